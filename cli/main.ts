import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { ciCommand } from './ci';
import { collapseCommand } from './collapse';
import { migrateCommand } from './migrate';
import { perfCommand } from './perf';
import { pushCommand } from './push';
import { serveCommand } from './serve';
import { tokenCommand } from './token';
import { workerCommand } from './worker';

/** The installed version: package.json beside dist/ (read, not imported, so the build needs no JSON modules). */
function version(): string {
  try {
    return (
      JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
}

const program = new Command('flamewatch')
  .description('Continuous profiling: ingest, store, query and compare profiles.')
  .version(version(), '-V, --version', 'print the version and exit')
  .showHelpAfterError();

program.addCommand(serveCommand());
program.addCommand(workerCommand());
program.addCommand(migrateCommand());
program.addCommand(collapseCommand());
program.addCommand(pushCommand());
program.addCommand(perfCommand());
program.addCommand(ciCommand());
program.addCommand(tokenCommand());

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`flamewatch: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
