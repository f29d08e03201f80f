import { Command } from 'commander';

export function collapseCommand(): Command {
  return new Command('collapse').action(() => {
    throw new Error('collapse is not implemented yet');
  });
}
