import { Command, InvalidArgumentError, Option } from 'commander';

const TENANT = /^[A-Za-z0-9_.\-]{1,64}$/;

function tenant(value: string): string {
  if (!TENANT.test(value)) throw new InvalidArgumentError('a tenant is 1-64 letters, digits, _ . or -');
  return value;
}

function scopes(value: string, previous: string[] = []): string[] {
  const out = [...previous];
  for (const s of value
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (s !== 'ingest' && s !== 'read' && s !== 'admin')
      throw new InvalidArgumentError(`a scope is ingest, read or admin, not ${JSON.stringify(s)}`);
    out.push(s);
  }
  return out;
}

/** Opens the store the server uses (CLICKHOUSE_URL, or the embedded chDB directory, which the server must not hold open). */
async function withTokens<T>(
  data: string | undefined,
  fn: (tokens: import('../store/tokens').TokenStore) => Promise<T>,
): Promise<T> {
  const { loadConfig, storeWith } = require('./config') as typeof import('./config');
  const { openStore } = require('../store') as typeof import('../store');
  const config = storeWith(loadConfig(process.env), { dataDir: data });
  let store;
  try {
    store = await openStore(config);
  } catch (err) {
    const hint = config.url
      ? ''
      : ` (with embedded chDB, stop flamewatch serve first: one process holds ${config.dataDir}; or make the token with POST /api/v1/tokens)`;
    throw new Error(`${(err as Error).message}${hint}`);
  }
  try {
    return await fn(store.tokens);
  } finally {
    await store.close();
  }
}

const dataOption = () =>
  new Option(
    '-d, --data <dir>',
    'chDB data directory, embedded mode; unused with CLICKHOUSE_URL (default: $FLAMEWATCH_DATA, else ./data)',
  );

/**
 * `flamewatch token create|list|revoke`: API tokens, straight in the store
 * (CLICKHOUSE_URL, or embedded chDB while no server holds it). `create`
 * prints the token once, on stdout alone, so `$(flamewatch token create ...)` captures it.
 */
export function tokenCommand(): Command {
  const cmd = new Command('token').description(
    'make, list and revoke API tokens (stored hashed in ClickHouse)',
  );
  cmd
    .command('create')
    .description('make a token and print it (once: only its hash is kept)')
    .requiredOption('--tenant <tenant>', 'the tenant the token acts for', tenant)
    .requiredOption('--scope <scopes>', 'ingest, read, admin (comma-separated or repeated)', scopes)
    .option('--name <name>', 'what the token is for (shown by list)', '')
    .addOption(dataOption())
    .action(async (o: { tenant: string; scope: string[]; name: string; data?: string }) => {
      const created = await withTokens(o.data, (t) =>
        t.create(o.tenant, o.scope as ('ingest' | 'read' | 'admin')[], o.name),
      );
      console.error(
        `token ${created.id} for tenant ${created.tenant} (${created.scopes.join(', ')}); it is shown only now:`,
      );
      console.log(created.token);
    });
  cmd
    .command('list')
    .description("list a tenant's tokens (ids, scopes, names; never the tokens)")
    .requiredOption('--tenant <tenant>', 'tenant', tenant)
    .addOption(dataOption())
    .action(async (o: { tenant: string; data?: string }) => {
      const list = await withTokens(o.data, (t) => t.list(o.tenant));
      for (const t of list)
        console.log(`${t.id}\t${t.scopes.join(',')}\t${new Date(t.created).toISOString()}\t${t.name}`);
    });
  cmd
    .command('revoke')
    .description('revoke a token by id (servers forget it within 30 s)')
    .requiredOption('--tenant <tenant>', 'tenant', tenant)
    .argument('<id>', 'the token id (from create or list)')
    .addOption(dataOption())
    .action(async (id: string, o: { tenant: string; data?: string }) => {
      const { revoked } = await withTokens(o.data, (t) => t.revoke(o.tenant, id));
      if (!revoked) throw new Error(`tenant ${o.tenant} has no token ${id}`);
      console.error(`revoked ${id}`);
    });
  return cmd;
}
