/**
 * A local stand-in for GitHub's REST API, answering the endpoints the PR bot
 * uses the way GitHub documents them, and recording every request:
 * GET/POST /repos/{owner}/{repo}/issues/{n}/comments (paginated with `Link`),
 * PATCH /repos/{owner}/{repo}/issues/comments/{id},
 * POST /repos/{owner}/{repo}/statuses/{sha}.
 * `failNext` queues answers (e.g. a rate-limit 403) served before the real ones.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  auth: string | undefined;
  body: unknown;
  at: number;
}

export interface Comment {
  id: number;
  body: string;
  html_url: string;
  user: { login: string };
}

export interface FakeGitHub {
  url: string;
  requests: RecordedRequest[];
  comments: Map<number, Comment[]>;
  statuses: Array<{ sha: string; state: string; context: string; description?: string; target_url?: string }>;
  failNext(answer: { status: number; headers?: Record<string, string>; body?: unknown }): void;
  close(): Promise<void>;
}

/** Starts the fake on an ephemeral port; `perPage` caps comments per page whatever per_page asks, to exercise pagination. */
export async function startFakeGitHub(options: { perPage?: number } = {}): Promise<FakeGitHub> {
  const requests: RecordedRequest[] = [];
  const comments = new Map<number, Comment[]>();
  const statuses: FakeGitHub['statuses'] = [];
  const queued: Array<{ status: number; headers?: Record<string, string>; body?: unknown }> = [];
  let nextId = 1000;
  let base = '';

  const server: Server = createServer(async (req, res) => {
    const body = await readJson(req);
    const url = new URL(req.url ?? '/', base);
    requests.push({
      method: req.method ?? '',
      path: url.pathname + url.search,
      auth: req.headers.authorization,
      body,
      at: Date.now(),
    });
    const send = (status: number, json: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(json));
    };
    const failure = queued.shift();
    if (failure) return send(failure.status, failure.body ?? { message: 'failure' }, failure.headers);
    if (!req.headers.authorization)
      return send(401, {
        message: 'Requires authentication',
        documentation_url: 'https://docs.github.com/rest',
      });

    let m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname);
    if (m) {
      const issue = Number(m[3]);
      const list = comments.get(issue) ?? [];
      if (req.method === 'GET') {
        const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30), options.perPage ?? 100);
        const page = Number(url.searchParams.get('page') ?? 1);
        const last = Math.max(1, Math.ceil(list.length / perPage));
        const links: string[] = [];
        const pageUrl = (p: number) => `${base}${url.pathname}?per_page=${perPage}&page=${p}`;
        if (page < last) links.push(`<${pageUrl(page + 1)}>; rel="next"`, `<${pageUrl(last)}>; rel="last"`);
        return send(
          200,
          list.slice((page - 1) * perPage, page * perPage),
          links.length ? { link: links.join(', ') } : {},
        );
      }
      if (req.method === 'POST') {
        const c: Comment = {
          id: nextId++,
          body: String((body as { body?: unknown }).body),
          html_url: '',
          user: { login: 'github-actions[bot]' },
        };
        c.html_url = `https://github.com/${m[1]}/${m[2]}/pull/${issue}#issuecomment-${c.id}`;
        comments.set(issue, [...list, c]);
        return send(201, c);
      }
    }
    m = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(url.pathname);
    if (m && req.method === 'PATCH') {
      const id = Number(m[3]);
      for (const list of comments.values()) {
        const c = list.find((x) => x.id === id);
        if (c) {
          c.body = String((body as { body?: unknown }).body);
          return send(200, c);
        }
      }
      return send(404, { message: 'Not Found' });
    }
    m = /^\/repos\/([^/]+)\/([^/]+)\/statuses\/([0-9a-f]+)$/.exec(url.pathname);
    if (m && req.method === 'POST') {
      const s = { sha: m[3], ...(body as { state: string; context: string }) };
      statuses.push(s);
      return send(201, { id: nextId++, ...s });
    }
    send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    comments,
    statuses,
    failNext: (answer) => queued.push(answer),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
