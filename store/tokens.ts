/**
 * API tokens: who may push, read or administer one tenant's data. Only a
 * token's SHA-256 is stored; the token itself is shown once, when it is made.
 * A token is 32 random bytes, so a plain hash is enough (no salt or slow
 * hash: nobody can guess 256 bits, and a lookup by hash leaks nothing useful).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { classifyStoreError } from './errors';
import { queryRows } from './rows-query';

/** `ingest`: POST /ingest. `read`: the query API and the UI. `admin`: settings, status changes, job retries, tokens (and reading). */
export type Scope = 'ingest' | 'read' | 'admin';
export const SCOPES: readonly Scope[] = ['ingest', 'read', 'admin'];

/** A stored token as listed: never the token, only its public id. */
export interface TokenInfo {
  /** Public id (the first 16 hex digits of the token's hash): what GET lists and DELETE takes. */
  id: string;
  tenant: string;
  scopes: Scope[];
  name: string;
  /** ms since the epoch. */
  created: number;
}

/** What `create` answers: the token, shown this once, and its record. */
export interface CreatedToken extends TokenInfo {
  token: string;
}

const PREFIX = 'fw_';

/** A new token: `fw_` and 43 base64url characters (32 random bytes). */
export function newToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

/** The hex SHA-256 of a token: what is stored and looked up. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Compares two tokens in time independent of where they differ (by their hashes, so lengths need not match). */
export function sameToken(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export function isScope(s: unknown): s is Scope {
  return typeof s === 'string' && (SCOPES as readonly string[]).includes(s);
}

interface Row {
  hash: string;
  id: string;
  tenant: string;
  scopes: string[];
  name: string;
  created: string | number;
  revoked: number;
}

const fromRow = (r: Row): TokenInfo => ({
  id: r.id,
  tenant: r.tenant,
  scopes: r.scopes.filter(isScope),
  name: r.name,
  created: Number(r.created),
});

const SELECT = 'SELECT hash, id, tenant, scopes, name, toUnixTimestamp64Milli(created) AS created, revoked';

/**
 * The api_tokens table (migration 4): one row per version of a token, the
 * newest kept (ReplacingMergeTree by `updated`); revoking writes a revoked
 * version. Every read names the tenant, except the lookup by hash that
 * authenticates a request (which is how the tenant is learnt).
 */
export class TokenStore {
  private lastUpdated = 0;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly db: string,
  ) {}

  /** Makes a token for a tenant with the given scopes; the answer holds the token, which is never shown again. */
  async create(tenant: string, scopes: Scope[], name = '', now = Date.now()): Promise<CreatedToken> {
    const token = newToken();
    const hash = tokenHash(token);
    const info: TokenInfo = {
      id: hash.slice(0, 16),
      tenant,
      scopes: [...new Set(scopes)],
      name,
      created: now,
    };
    await this.write(hash, info, false, now);
    return { ...info, token };
  }

  /** The live token with this hash, or undefined (unknown or revoked). */
  async byHash(hash: string): Promise<TokenInfo | undefined> {
    const [row] = await queryRows<Row>(
      this.client,
      `${SELECT} FROM ${this.db}.api_tokens FINAL WHERE hash = {hash:String} LIMIT 1`,
      { hash },
    );
    if (!row || row.revoked) return undefined;
    // The lookup was by equality in ClickHouse; compare again here in constant time.
    if (!timingSafeEqual(Buffer.from(row.hash, 'hex'), Buffer.from(hash, 'hex'))) return undefined;
    return fromRow(row);
  }

  /** A tenant's live tokens, newest first. */
  async list(tenant: string): Promise<TokenInfo[]> {
    const rows = await queryRows<Row>(
      this.client,
      `${SELECT} FROM ${this.db}.api_tokens FINAL WHERE tenant = {tenant:String} AND revoked = 0 ORDER BY created DESC, id`,
      { tenant },
    );
    return rows.map(fromRow);
  }

  /** Revokes a tenant's token by id; false when the tenant has no live token with that id. Answers the revoked token's hash too (to drop it from caches). */
  async revoke(tenant: string, id: string, now = Date.now()): Promise<{ revoked: boolean; hash?: string }> {
    const [row] = await queryRows<Row>(
      this.client,
      `${SELECT} FROM ${this.db}.api_tokens FINAL WHERE tenant = {tenant:String} AND id = {id:String} AND revoked = 0 LIMIT 1`,
      { tenant, id },
    );
    if (!row) return { revoked: false };
    await this.write(row.hash, fromRow(row), true, now);
    return { revoked: true, hash: row.hash };
  }

  private async write(hash: string, info: TokenInfo, revoked: boolean, now: number): Promise<void> {
    // Strictly increasing per write, so FINAL keeps the newest even within one millisecond.
    const updated = Math.max(now, this.lastUpdated + 1);
    try {
      await this.client.insert({
        table: `${this.db}.api_tokens`,
        format: 'JSONEachRow',
        values: [
          {
            hash,
            id: info.id,
            tenant: info.tenant,
            scopes: info.scopes,
            name: info.name,
            created: Math.round(info.created),
            revoked: revoked ? 1 : 0,
            updated,
          },
        ],
      });
      this.lastUpdated = updated;
    } catch (err) {
      throw classifyStoreError(err);
    }
  }
}
