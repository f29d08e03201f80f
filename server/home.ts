import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import express, { type Router } from 'express';

/**
 * `/`: the UI's build when there is one (ui/dist), else a page that says how
 * to get data in and where the API is. Names shown here are not user data.
 */
export function homeRouter(uiDist = findUiDist()): Router {
  const router = express.Router();
  // The UI's pages live in its query string (`/?view=compare`); a page's name typed as a path goes there.
  router.get(/^\/(explore|compare|regressions|budgets)\/?$/, (req, res) => {
    const view = req.path.replace(/\//g, '');
    const query = new URLSearchParams(req.query as Record<string, string>);
    if (view !== 'explore') query.set('view', view);
    const search = query.toString();
    res.redirect(302, `/${search ? `?${search}` : ''}`);
  });
  if (fs.existsSync(path.join(uiDist, 'index.html'))) {
    router.use(express.static(uiDist, { index: 'index.html', maxAge: '1h' }));
    return router;
  }
  router.get('/', (req, res) => {
    const base = `${req.protocol}://${req.get('host') ?? 'localhost:4040'}`.replace(/[<>"'&]/g, '');
    // This page's one inline stylesheet is allowed by its hash; nothing else inline is.
    res.setHeader(
      'Content-Security-Policy',
      `default-src 'self'; style-src 'sha256-${STYLE_HASH}'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
    );
    res.type('html').send(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flamewatch</title>
<style>${STYLE}</style></head>
<body><h1>Flamewatch is running</h1>
<p>The flame graph UI is not built in this copy; the ingest and query API are live.</p>
<h2>Send a profile</h2>
<pre>flamewatch push --server ${base} --service myapp profile.pb.gz
perf script | flamewatch collapse | curl --data-binary @- '${base}/ingest?name=myapp.cpu'</pre>
<h2>Ask for it back</h2>
<ul>
<li><a href="/api/v1/services">/api/v1/services</a></li>
<li><code>/api/v1/profile-types?service=myapp</code></li>
<li><code>/api/v1/top?query=myapp&amp;type=cpu&amp;from=now-1h</code></li>
<li><code>/api/v1/flamegraph?query=myapp&amp;type=cpu&amp;from=now-1h</code></li>
<li><code>/api/v1/export?query=myapp&amp;type=cpu&amp;format=pprof</code></li>
<li><a href="/healthz">/healthz</a>, <a href="/metrics">/metrics</a></li>
</ul></body></html>`);
  });
  return router;
}

const STYLE =
  'body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}code,pre{background:#f3f3f3;padding:.1rem .3rem}pre{padding:.6rem;overflow:auto}';
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

/** ui/dist from this file compiled (dist/server) or run from source (server/, in tests). */
function findUiDist(): string {
  const candidates = [
    path.resolve(__dirname, '..', '..', 'ui', 'dist'),
    path.resolve(__dirname, '..', 'ui', 'dist'),
  ];
  return candidates.find((d) => fs.existsSync(path.join(d, 'index.html'))) ?? candidates[0];
}
