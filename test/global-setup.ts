import * as fs from 'node:fs';
import * as path from 'node:path';
import { generatedCorpus, sharedCorpus } from './helpers/corpus';

/**
 * Once per jest run: refuses to start without the generated corpus, and says
 * in one line when the shared corpus is not there, so that a run without it
 * never passes silently with less.
 */
export default function globalSetup(): void {
  if (!fs.existsSync(path.join(generatedCorpus.dir, 'manifest.json'))) {
    throw new Error(
      `the generated corpus is not in ${generatedCorpus.dir}: run \`npm test\` once, whose setup makes it (test/tools/make-corpus.sh)`,
    );
  }
  if (sharedCorpus === undefined) {
    console.log(
      '\nflamewatch tests: no shared corpus (../shared/corpus, or set FLAMEWATCH_SHARED): its suites do not run; the generated corpus in .tools/corpus does',
    );
  }
}
