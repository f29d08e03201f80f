'use strict';
// Preload entry: `node -r @flamewatch/agent/register app.js` profiles app.js
// with settings from the environment (FLAMEWATCH_SERVER, FLAMEWATCH_SERVICE,
// FLAMEWATCH_LABELS, ...; see README). The last profile is pushed when the
// event loop empties; the agent never keeps the process alive on its own.
try {
  const agent = require('./dist/index.js').startFromEnv(process.env);
  process.once('beforeExit', () => {
    agent.stop();
  });
} catch (err) {
  // never break the host's start-up
}
