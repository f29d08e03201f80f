/**
 * Who is asking, for which tenant, and may they. Two modes:
 *
 * - `open`: no credentials; the tenant is `X-Scope-OrgID` (default
 *   `default`). For a server only its own machine can reach, or behind a
 *   proxy that authenticates.
 * - `token`: every request to `/ingest` and `/api/v1` carries a token
 *   (`Authorization: Bearer <token>`, or Basic with the token as password, as
 *   Pyroscope's SDKs send it), and the tenant is the token's: an
 *   `X-Scope-OrgID` naming another tenant is refused (403), so one tenant's
 *   token never reaches another's data, whatever it asks.
 *
 * Tokens are stored hashed (store/tokens.ts); verified ones are kept in
 * memory for a short while (`cacheMs`), so a revocation reaches every
 * replica within that time (at once on the replica that revoked it).
 */
import type { Request, RequestHandler, Response } from 'express';
import { type Scope, SCOPES, sameToken, type TokenInfo, tokenHash, type TokenStore } from '../store/tokens';
import { HttpError } from './errors';

export type AuthMode = 'open' | 'token';

export interface AuthOptions {
  mode: AuthMode;
  /**
   * The operator's token (FLAMEWATCH_ADMIN_TOKEN): every scope on
   * `adminTenant`, and the one token that may manage other tenants' tokens
   * (`POST /api/v1/tokens` with a `tenant`). Never stored.
   */
  adminToken?: string;
  /** The operator token's own tenant. Default `default`. */
  adminTenant?: string;
  /** Tokens that live only in this process (the server's own self-profiling agent). */
  internalTokens?: { token: string; tenant: string; scopes: Scope[] }[];
  /** How long a verified (or unknown) token is remembered. Default 30 s. */
  cacheMs?: number;
}

/** Who a request is from: the token's tenant and scopes. */
export interface Principal {
  tenant: string;
  scopes: ReadonlySet<Scope>;
  /** The token's public id (`operator`, `internal` for tokens not in the store). */
  tokenId: string;
  /** The operator token: may manage tokens of every tenant. */
  operator: boolean;
}

export const DEFAULT_TENANT = 'default';
const TENANT = /^[A-Za-z0-9_.\-]{1,64}$/;
const MAX_CACHED = 10_000;
const MAX_TOKEN_LENGTH = 512;
const STORED_TOKEN = /^fw_[A-Za-z0-9_-]{43}$/;

/** Whether a string may name a tenant: 1-64 letters, digits, `_`, `.` or `-`. */
export function isTenant(s: unknown): s is string {
  return typeof s === 'string' && TENANT.test(s);
}

/** The headers auth reads, from an HTTP request or a gRPC call's metadata (lower-case names). */
export interface AuthHeaders {
  authorization?: string;
  'x-scope-orgid'?: string | string[];
}

/** The X-Scope-OrgID header's tenant, undefined when absent or empty; 400 when malformed. */
function headerTenant(req: { headers: AuthHeaders }): string | undefined {
  const header = req.headers['x-scope-orgid'];
  if (header === undefined || header === '') return undefined;
  if (!isTenant(header))
    throw new HttpError(400, 'X-Scope-OrgID must be 1-64 letters, digits, _ . or -', 'invalid_parameter');
  return header;
}

/** The token of a request: `Authorization: Bearer <token>`, or Basic with the token as password (the user is ignored; a token as user with no password works too). */
export function credentialsOf(req: { headers: AuthHeaders }): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const value = space === -1 ? '' : header.slice(space + 1).trim();
  if (scheme === 'bearer') return value || undefined;
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return decoded || undefined;
    return decoded.slice(colon + 1) || decoded.slice(0, colon) || undefined;
  }
  return undefined;
}

/** Whether a principal may act with a scope; `admin` includes `read` (what one administers one may see). */
export function allows(p: Principal, scope: Scope): boolean {
  return p.scopes.has(scope) || (scope === 'read' && p.scopes.has('admin'));
}

/** The scope a request under /api/v1 needs: reading is `read`, any change is `admin`. */
export function apiScope(method: string, path = ''): Scope {
  // Evaluating budgets reads and changes nothing; it is a POST only because the budgets travel in the body.
  if (method === 'POST' && path === '/budgets/evaluate') return 'read';
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 'read' : 'admin';
}

interface Cached {
  principal: Principal | undefined;
  expires: number;
}

/**
 * The auth layer of one app: middleware that requires a scope, and the
 * tenant of a request. In open mode every request passes and the tenant is
 * `X-Scope-OrgID`.
 */
export class Auth {
  readonly mode: AuthMode;
  private readonly cacheMs: number;
  private readonly principals = new WeakMap<Request, Principal>();
  private readonly cache = new Map<string, Cached>();
  private readonly inFlight = new Map<string, Promise<Principal | undefined>>();
  private readonly internal = new Map<string, Principal>();
  private readonly operator?: { token: string; principal: Principal };

  constructor(
    options: AuthOptions,
    private readonly tokens: TokenStore,
  ) {
    this.mode = options.mode;
    this.cacheMs = options.cacheMs ?? 30_000;
    if (options.adminToken !== undefined) {
      const tenant = options.adminTenant ?? DEFAULT_TENANT;
      if (!isTenant(tenant))
        throw new Error(`the admin tenant ${JSON.stringify(tenant)} must be 1-64 letters, digits, _ . or -`);
      if (options.adminToken.length < 16)
        throw new Error(
          'FLAMEWATCH_ADMIN_TOKEN must be at least 16 characters (use a long random string, e.g. `openssl rand -base64 32`)',
        );
      this.operator = {
        token: options.adminToken,
        principal: { tenant, scopes: new Set(SCOPES), tokenId: 'operator', operator: true },
      };
    }
    for (const t of options.internalTokens ?? []) {
      this.internal.set(tokenHash(t.token), {
        tenant: t.tenant,
        scopes: new Set(t.scopes),
        tokenId: 'internal',
        operator: false,
      });
    }
  }

  /**
   * Middleware: the request must carry a token with `scope` (a function of
   * the request picks it per request), else 401 (no or unknown token) or
   * 403 (a token without the scope, or another tenant in X-Scope-OrgID).
   * `onRefused` is told the reason (for metrics).
   */
  require(scope: Scope | ((req: Request) => Scope), onRefused?: (reason: string) => void): RequestHandler {
    return (req, res, next) => {
      if (this.mode === 'open') return next();
      this.authenticate(req, res, typeof scope === 'function' ? scope(req) : scope).then(
        () => next(),
        (err: unknown) => {
          onRefused?.((err as HttpError).reason ?? 'unauthorized');
          // The body is not wanted: drain it, so the client reads the answer instead of a reset.
          req.resume();
          next(err);
        },
      );
    };
  }

  /** The tenant a request acts for: the token's (auth on) or X-Scope-OrgID's (open). */
  readonly tenantOf = (req: Request): string => {
    if (this.mode === 'open') return headerTenant(req) ?? DEFAULT_TENANT;
    const p = this.principals.get(req);
    // Every route that reads a tenant is behind `require`; reaching here without one is a wiring mistake, refused.
    if (!p) throw new HttpError(401, 'authentication required', 'unauthorized');
    return p.tenant;
  };

  /** The principal of an authenticated request (undefined in open mode). */
  principalOf(req: Request): Principal | undefined {
    return this.principals.get(req);
  }

  /** Forgets a token at once (after it is revoked here). */
  forget(hash: string): void {
    this.cache.delete(hash);
  }

  /**
   * The tenant of a call that is not an express request (OTLP over gRPC): its headers must carry what
   * `require(scope)` asks of a request; HttpError 400, 401 or 403 as it would answer.
   */
  async tenantOfHeaders(headers: AuthHeaders, scope: Scope): Promise<string> {
    if (this.mode === 'open') return headerTenant({ headers }) ?? DEFAULT_TENANT;
    return (await this.principalFor({ headers }, scope)).tenant;
  }

  private async authenticate(req: Request, res: Response, scope: Scope): Promise<void> {
    const principal = await this.principalFor(req, scope, (value) =>
      res.setHeader('WWW-Authenticate', value),
    );
    this.principals.set(req, principal);
  }

  private async principalFor(
    req: { headers: AuthHeaders },
    scope: Scope,
    challenge?: (value: string) => void,
  ): Promise<Principal> {
    const token = credentialsOf(req);
    if (token === undefined || token.length > MAX_TOKEN_LENGTH) {
      challenge?.('Bearer realm="flamewatch"');
      throw new HttpError(
        401,
        'authentication required: send Authorization: Bearer <token> (or Basic auth with the token as password)',
        'unauthorized',
      );
    }
    const principal = await this.verify(token);
    if (!principal) {
      challenge?.('Bearer realm="flamewatch", error="invalid_token"');
      throw new HttpError(401, 'the token is not valid (unknown or revoked)', 'unauthorized');
    }
    const asked = headerTenant(req);
    if (asked !== undefined && asked !== principal.tenant) {
      throw new HttpError(
        403,
        "X-Scope-OrgID names a tenant other than the token's; omit it or send the token's own tenant",
        'forbidden',
      );
    }
    if (!allows(principal, scope)) {
      throw new HttpError(
        403,
        `this token does not have the ${scope} scope (it has ${[...principal.scopes].join(', ') || 'none'})`,
        'forbidden',
      );
    }
    return principal;
  }

  private verify(token: string): Promise<Principal | undefined> {
    if (this.operator && sameToken(token, this.operator.token))
      return Promise.resolve(this.operator.principal);
    const hash = tokenHash(token);
    const internal = this.internal.get(hash);
    if (internal) return Promise.resolve(internal);
    // Stored tokens have one shape (store/tokens.ts); anything else is refused without a query.
    if (!STORED_TOKEN.test(token)) return Promise.resolve(undefined);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.expires > now) return Promise.resolve(cached.principal);
    let pending = this.inFlight.get(hash);
    if (!pending) {
      pending = this.tokens
        .byHash(hash)
        .then((info) => {
          const principal = info && principalOf(info);
          this.remember(hash, principal);
          return principal;
        })
        .finally(() => this.inFlight.delete(hash));
      this.inFlight.set(hash, pending);
    }
    return pending;
  }

  private remember(hash: string, principal: Principal | undefined): void {
    // Bounded: unknown tokens are remembered too (so guessing costs no queries), the oldest dropped first.
    if (this.cache.size >= MAX_CACHED) {
      const now = Date.now();
      for (const [k, v] of this.cache) if (v.expires <= now) this.cache.delete(k);
      while (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.delete(hash);
    this.cache.set(hash, {
      principal,
      expires: Date.now() + (principal ? this.cacheMs : Math.min(this.cacheMs, 5000)),
    });
  }
}

function principalOf(info: TokenInfo): Principal {
  return { tenant: info.tenant, scopes: new Set(info.scopes), tokenId: info.id, operator: false };
}

/** Whether a listen address reaches only this machine. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return (
    h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1'
  );
}

/**
 * The auth configuration of `flamewatch serve`, from FLAMEWATCH_AUTH
 * (`open` | `token`), FLAMEWATCH_ADMIN_TOKEN and FLAMEWATCH_ADMIN_TENANT as
 * cli/config.ts read them,
 * with a line for the log that says which mode runs. With nothing set, a
 * server on a loopback address runs open (the embedded default); on any
 * other address it refuses to start (throws, saying what to set).
 */
export function authSettings(
  settings: { mode?: 'open' | 'token'; adminToken?: string; adminTenant?: string },
  host: string,
): { options: AuthOptions; notice: string } {
  const { mode, adminToken, adminTenant } = settings;
  if (mode === 'open') {
    if (adminToken)
      throw new Error(
        'FLAMEWATCH_AUTH=open and FLAMEWATCH_ADMIN_TOKEN are both set: unset one (open mode takes no tokens)',
      );
    const who = isLoopback(host) ? 'anyone on this machine' : `anyone who can reach ${host}`;
    return {
      options: { mode: 'open' },
      notice: `authentication is off (FLAMEWATCH_AUTH=open): ${who} can read and write every tenant's data (tenant from X-Scope-OrgID)`,
    };
  }
  if (mode === 'token' || adminToken) {
    const admin = adminToken
      ? `; FLAMEWATCH_ADMIN_TOKEN administers tenant ${adminTenant ?? DEFAULT_TENANT} and every tenant's tokens`
      : '; make tokens with `flamewatch token create`';
    return {
      options: { mode: 'token', adminToken, adminTenant },
      notice: `authentication is on: every request to /ingest and /api/v1 needs a token${admin}`,
    };
  }
  if (isLoopback(host)) {
    return {
      options: { mode: 'open' },
      notice: `authentication is off: listening on ${host} only, so only this machine can connect (tenant from X-Scope-OrgID); set FLAMEWATCH_ADMIN_TOKEN to require tokens`,
    };
  }
  throw new Error(
    `refusing to listen on ${host} without authentication: set FLAMEWATCH_ADMIN_TOKEN to a long random secret (e.g. \`openssl rand -base64 32\`) to require API tokens, ` +
      'or FLAMEWATCH_AUTH=open to serve without them (anyone who can reach the port reads and writes every tenant); or listen on 127.0.0.1',
  );
}
