// @ts-check
'use strict';
/**
 * A stand-in for a ClickHouse server's HTTP interface, for tests on machines
 * where no ClickHouse server can be installed: it takes requests the way
 * @clickhouse/client sends them (SQL in the body or the `query` parameter,
 * data in the body, `param_*` query parameters, settings as URL parameters)
 * and answers them with chDB, the same engine, from its own process.
 * It proves our CLICKHOUSE_URL path (HTTP transport, URL settings, parameter
 * formatting) with the exact SQL the server runs; it is not ClickHouse's own
 * HTTP handler. URLs up to 1 MiB, as ClickHouse's `http_max_uri_size`
 * (Node's own limit is 16 kB; the client sends parameters in the URL). One
 * request at a time: parameters are `SET` on the one chDB session, and two
 * requests at once would each run with the other's.
 *
 *   node test/helpers/clickhouse-http-shim.js <data dir> [port]   → prints "listening <port>"
 */
const http = require('node:http');
const zlib = require('node:zlib');
const { Session } = require('chdb');

const session = new Session(process.argv[2]);
const IGNORED = new Set(['query', 'query_id', 'database', 'session_id', 'role', 'default_format', 'enable_http_compression', 'wait_end_of_query',
  'send_progress_in_http_headers', 'http_headers_progress_interval_ms', 'http_native_compression_disable_checksumming_on_decompress']);

/** A ClickHouse SQL string literal holding `text` exactly. */
const literal = (text) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

let turn = Promise.resolve();

http
  .createServer({ maxHeaderSize: 1 << 20 }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      turn = turn.then(() => answer(req, res, chunks));
    });
  })
  .listen(Number(process.argv[3] ?? 0), '127.0.0.1', function () {
    const address = /** @type {import('node:net').AddressInfo} */ (this.address());
    console.log(`listening ${address.port}`);
  });

/** Answers one request; never rejects (a failure is ClickHouse's 500), so the next one's turn comes. */
async function answer(req, res, chunks) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/ping') {
    res.end('Ok.\n');
    return;
  }
  try {
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
    const statements = [];
    for (const [key, value] of url.searchParams) {
      if (key.startsWith('param_')) statements.push(`SET ${key} = ${literal(value)}`);
      else if (!IGNORED.has(key)) statements.push(`SET ${key} = ${literal(value)}`);
    }
    const query = url.searchParams.get('query');
    const sql = query ? `${query}\n${body.toString('utf8')}` : body.toString('utf8');
    const format = url.searchParams.get('default_format') ?? 'TabSeparated';
    const result = await session.queryAsync([...statements, sql].join(';\n'), { format });
    let out = Buffer.from(result.bytes());
    if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      out = zlib.gzipSync(out);
      res.setHeader('Content-Encoding', 'gzip');
    }
    res.setHeader('X-ClickHouse-Summary', JSON.stringify({ read_rows: String(result.rowsRead), read_bytes: String(result.bytesRead) }));
    res.end(out);
  } catch (err) {
    const message = String(err && err.message ? err.message : err);
    const code = /Code: (\d+)/.exec(message)?.[1] ?? '1000';
    res.statusCode = 500;
    res.setHeader('X-ClickHouse-Exception-Code', code);
    res.end(message.startsWith('Code:') ? message : `Code: ${code}. DB::Exception: ${message}`);
  }
}
