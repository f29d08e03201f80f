// Bundles the UI into ui/dist with esbuild: one script, one stylesheet, the
// HTML shell. Type-checking is `npm run typecheck` (esbuild strips types).
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist');
const watch = process.argv.includes('--watch');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));

const options = {
  entryPoints: { app: join(here, 'src', 'main.ts') },
  bundle: true,
  minify: !watch,
  sourcemap: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  outdir: out,
  logLevel: 'warning',
};
if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log('ui: watching src/, writing ui/dist');
} else {
  await esbuild.build(options);
}
