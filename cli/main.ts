import { Command } from 'commander';
import { ciCommand } from './ci';
import { collapseCommand } from './collapse';
import { migrateCommand } from './migrate';
import { perfCommand } from './perf';
import { pushCommand } from './push';
import { serveCommand } from './serve';
import { tokenCommand } from './token';
import { workerCommand } from './worker';

const program = new Command('flamewatch')
  .description('Continuous profiling: ingest, store, query and compare profiles.')
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
