import { readFileSync } from 'node:fs';
import { join } from 'node:path';

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

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // What scripts ask most often answers before commander and the commands load: the process's start only.
  console.log(version());
} else run();

function run(): void {
  const { Command } = require('commander') as typeof import('commander');
  const program = new Command('flamewatch')
    .description('Continuous profiling: ingest, store, query and compare profiles.')
    .version(version(), '-V, --version', 'print the version and exit')
    .showHelpAfterError();

  program.addCommand((require('./serve') as typeof import('./serve')).serveCommand());
  program.addCommand((require('./worker') as typeof import('./worker')).workerCommand());
  program.addCommand((require('./migrate') as typeof import('./migrate')).migrateCommand());
  program.addCommand((require('./collapse') as typeof import('./collapse')).collapseCommand());
  program.addCommand((require('./push') as typeof import('./push')).pushCommand());
  program.addCommand((require('./perf') as typeof import('./perf')).perfCommand());
  program.addCommand((require('./ci') as typeof import('./ci')).ciCommand());
  program.addCommand((require('./token') as typeof import('./token')).tokenCommand());

  program.parseAsync(process.argv).catch((err: unknown) => {
    console.error(`flamewatch: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
