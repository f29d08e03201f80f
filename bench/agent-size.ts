/**
 * Installed size of the agent as a service gets it: `npm pack` of agent/,
 * installed with --omit=dev into an empty project, beside @pyroscope/nodejs
 * installed the same way. Needs the npm registry.
 *
 *   npm run build && node dist/bench/agent-size.js
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoDir } from './lib';

function installedSize(spec: string): { mb: number; packages: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-size-'));
  try {
    fs.writeFileSync(
      path.join(dir, 'package.json'),
      '{"name":"size-probe","version":"1.0.0","private":true}',
    );
    execFileSync('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', spec], {
      cwd: dir,
      stdio: 'ignore',
    });
    const kb = Number(
      execFileSync('du', ['-sk', path.join(dir, 'node_modules')], { encoding: 'utf8' }).split('\t')[0],
    );
    const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, unknown>;
    };
    return {
      mb: kb / 1024,
      packages: Object.keys(lock.packages).filter((k) => k.startsWith('node_modules/')).length,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const packDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-pack-'));
const tarball = execFileSync('npm', ['pack', '--pack-destination', packDir], {
  cwd: path.join(repoDir, 'agent'),
  encoding: 'utf8',
})
  .trim()
  .split('\n')
  .pop()!;
const ours = installedSize(path.join(packDir, tarball));
const peer = installedSize('@pyroscope/nodejs@0.6.4');
fs.rmSync(packDir, { recursive: true, force: true });
console.log('| agent | installed size | packages |');
console.log('| --- | --- | --- |');
console.log(`| @flamewatch/agent | ${ours.mb.toFixed(1)} MB | ${ours.packages} |`);
console.log(`| @pyroscope/nodejs 0.6.4 | ${peer.mb.toFixed(1)} MB | ${peer.packages} |`);
