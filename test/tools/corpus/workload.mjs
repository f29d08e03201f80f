// A small Node.js service-like workload for the generated corpus
// (test/tools/make-corpus.sh): parsing, sorting, rendering and a recursive
// function, plus allocations it keeps. node-profiles.mjs profiles it with
// @datadog/pprof; `node --perf-basic-prof workload.mjs SECONDS` runs it alone
// for perf.
import { pathToFileURL } from 'node:url';

/** Objects kept alive, so that the heap profile has something in use. */
const retained = [];

function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

function parseRows(n) {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += JSON.parse(`{"id":${i},"name":"row-${i}","tags":["a","b"]}`).id;
  return sum;
}

function sortRows(n) {
  const rows = [];
  for (let i = 0; i < n; i++) rows.push({ key: (i * 7919) % n, name: `row-${i}` });
  rows.sort((a, b) => a.key - b.key);
  return rows[0].key;
}

function renderPage(n) {
  const parts = [];
  for (let i = 0; i < n; i++) parts.push(`<li class="item-${i % 7}">${'x'.repeat(i % 40)}</li>`);
  const html = `<ul>${parts.join('')}</ul>`;
  if (retained.length < 2000) retained.push(html, parts);
  return html.length;
}

/** Runs the workload for `ms` milliseconds of wall time; returns a checksum. */
export function work(ms) {
  const end = Date.now() + ms;
  let sink = 0;
  while (Date.now() < end) sink += fib(18) + parseRows(150) + sortRows(1500) + renderPage(200);
  return sink;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(work(Number(process.argv[2] ?? 1) * 1000));
}
