/**
 * Cluster mode: the migrations' single-server DDL rewritten for a ClickHouse
 * cluster. Each table becomes `<name>_local` (Replicated*MergeTree, ON
 * CLUSTER) plus a Distributed table `<name>` over it, sharded by its sorting
 * key, so the queries run unchanged on the names they always use. Views read
 * and write the local tables: each shard rolls up the profiles it stores.
 * A statement of another form is refused rather than run on one node only.
 */

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** Checks a cluster name, spliced into DDL like the database name. */
export function checkClusterName(cluster: string): string {
  if (!NAME.test(cluster))
    throw new Error(`cluster name ${JSON.stringify(cluster)} must be letters, digits and _`);
  return cluster;
}

/** The names of the tables that `statements` create in `db`. */
export function tablesCreated(statements: string[], db: string): Set<string> {
  const names = new Set<string>();
  const re = new RegExp(`^CREATE TABLE IF NOT EXISTS ${db}\\.(\\w+) `);
  for (const s of statements) {
    const m = re.exec(s);
    if (m) names.add(m[1]);
  }
  return names;
}

/**
 * One statement's cluster form (one or two statements). `tables` are the
 * tables made by the migrations, whose references get the `_local` suffix
 * inside view definitions.
 */
export function clusterStatements(
  statement: string,
  db: string,
  cluster: string,
  tables: Set<string>,
): string[] {
  const on = `ON CLUSTER ${checkClusterName(cluster)}`;
  const s = statement.trim();
  let m = /^CREATE DATABASE IF NOT EXISTS (\w+)$/.exec(s);
  if (m && m[1] === db) return [`CREATE DATABASE IF NOT EXISTS ${db} ${on}`];

  m = new RegExp(
    `^CREATE TABLE IF NOT EXISTS ${db}\\.(\\w+) \\(([\\s\\S]*)\\) ENGINE = (\\w*)MergeTree(?:\\(([^)]*)\\))?([\\s\\S]*)$`,
  ).exec(s);
  if (m) {
    const [, name, columns, kind, args, rest] = m;
    const order = /\bORDER BY (\([^)]*\)|\w+)/.exec(rest);
    if (!order) throw new Error(`no ORDER BY to shard ${db}.${name} by`);
    const key = order[1].startsWith('(') ? order[1] : `(${order[1]})`;
    const replication = [
      `'/clickhouse/tables/{shard}/${db}/${name}_local'`,
      `'{replica}'`,
      ...(args ? [args] : []),
    ].join(', ');
    return [
      `CREATE TABLE IF NOT EXISTS ${db}.${name}_local ${on} (${columns}) ENGINE = Replicated${kind}MergeTree(${replication})${rest}`,
      `CREATE TABLE IF NOT EXISTS ${db}.${name} ${on} AS ${db}.${name}_local ENGINE = Distributed('${cluster}', '${db}', '${name}_local', cityHash64${key})`,
    ];
  }

  m = new RegExp(
    `^CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}\\.(\\w+) TO ${db}\\.(\\w+) AS ([\\s\\S]*)$`,
  ).exec(s);
  if (m) {
    const [, view, target, select] = m;
    const local = select.replace(new RegExp(`\\b${db}\\.(\\w+)\\b`, 'g'), (ref, t: string) =>
      tables.has(t) ? `${db}.${t}_local` : ref,
    );
    return [
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${view} ${on} TO ${db}.${target}_local AS ${local}`,
    ];
  }

  m = new RegExp(`^DROP VIEW IF EXISTS ${db}\\.(\\w+)$`).exec(s);
  if (m) return [`DROP VIEW IF EXISTS ${db}.${m[1]} ${on}`];

  // A table made before cluster mode knew it is dropped under both names.
  m = new RegExp(`^DROP TABLE IF EXISTS ${db}\\.(\\w+)$`).exec(s);
  if (m)
    return [`DROP TABLE IF EXISTS ${db}.${m[1]} ${on}`, `DROP TABLE IF EXISTS ${db}.${m[1]}_local ${on}`];

  m = new RegExp(`^TRUNCATE TABLE IF EXISTS ${db}\\.(\\w+)$`).exec(s);
  if (m && tables.has(m[1])) return [`TRUNCATE TABLE IF EXISTS ${db}.${m[1]}_local ${on}`];

  m = new RegExp(`^ALTER TABLE ${db}\\.(\\w+) ([\\s\\S]*)$`).exec(s);
  if (m && tables.has(m[1])) {
    const local = `ALTER TABLE ${db}.${m[1]}_local ${on} ${m[2]}`;
    // A Distributed table keeps the columns it was made with: it changes with its local table. A codec is
    // how the local table stores a column; the Distributed one stores nothing.
    return /^(ADD|DROP|MODIFY|RENAME|COMMENT) COLUMN\b/.test(m[2]) && !/^MODIFY COLUMN .* CODEC\(/.test(m[2])
      ? [local, `ALTER TABLE ${db}.${m[1]} ${on} ${m[2]}`]
      : [local];
  }

  throw new Error(`no cluster form for this statement: ${s.slice(0, 120)}`);
}
