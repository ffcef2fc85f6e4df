import type pg from 'pg';

/**
 * The configuration database's schema on PostgreSQL, versioned: migration N takes a database at
 * version N-1 to N. A master applies what is missing on start, inside one transaction under a
 * transaction-level advisory lock, so two masters starting together migrate once.
 */
const MIGRATIONS: string[] = [
  // 1: the tables of the SQLite backend, the lease of the active master, and the commit function.
  `
  CREATE TABLE objects (type text NOT NULL, dbid bigint NOT NULL, body bytea NOT NULL, PRIMARY KEY (type, dbid));
  CREATE TABLE credentials (dbid bigint PRIMARY KEY, hash text NOT NULL);
  CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL);
  CREATE TABLE identity (name text PRIMARY KEY, value text NOT NULL);
  CREATE TABLE changes (
    seq bigint PRIMARY KEY, at bigint NOT NULL, op text NOT NULL, type text NOT NULL, dbid bigint NOT NULL,
    tenant bigint NOT NULL, folder bigint NOT NULL, prev_tenant bigint, prev_folder bigint, frame bytea NOT NULL,
    proxy_frame bytea);
  INSERT INTO counters (name, value) VALUES ('seq', 0);
  -- The lease: which master may commit (epoch), until when (PostgreSQL's clock), from which session.
  CREATE TABLE lease (
    id int PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL, holder text NOT NULL, endpoint text NOT NULL,
    pid int NOT NULL, expires_at timestamptz NOT NULL);
  INSERT INTO lease VALUES (1, 0, '', '', 0, '-infinity');
  -- One committed write, in one transaction. The fencing check first: only the holder of the
  -- current epoch, within its lease, commits. (Commits run on the session that holds the lease's
  -- advisory lock, and a standby takes the lease only once it holds that lock, so no commit of
  -- the old epoch is in flight after a takeover; the check is the last guard, and it locks
  -- nothing, so commits do not write to the lease row.) Last the seq: it must follow the
  -- committed one (the counter row, updated here, orders commits).
  CREATE FUNCTION cfgproxy_commit(
    p_epoch bigint, p_seq bigint, p_at bigint, p_op text, p_type text, p_dbid bigint, p_tenant bigint,
    p_folder bigint, p_prev_tenant bigint, p_prev_folder bigint, p_frame bytea, p_proxy_frame bytea,
    p_body bytea, p_credential text, p_counter_name text, p_counter_next bigint) RETURNS void
  LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM 1 FROM lease WHERE id = 1 AND epoch = p_epoch AND expires_at > clock_timestamp();
    IF NOT FOUND THEN
      RAISE EXCEPTION 'this master no longer holds the lease (epoch %)', p_epoch USING ERRCODE = 'CP001';
    END IF;
    IF p_body IS NOT NULL THEN
      INSERT INTO objects (type, dbid, body) VALUES (p_type, p_dbid, p_body)
        ON CONFLICT (type, dbid) DO UPDATE SET body = excluded.body;
    ELSE
      DELETE FROM objects WHERE type = p_type AND dbid = p_dbid;
    END IF;
    IF p_credential IS NOT NULL THEN
      INSERT INTO credentials (dbid, hash) VALUES (p_dbid, p_credential) ON CONFLICT (dbid) DO UPDATE SET hash = excluded.hash;
    ELSIF p_op = 'deleted' AND p_type = 'Person' THEN
      DELETE FROM credentials WHERE dbid = p_dbid;
    END IF;
    IF p_counter_name IS NOT NULL THEN
      INSERT INTO counters (name, value) VALUES (p_counter_name, p_counter_next) ON CONFLICT (name) DO UPDATE SET value = excluded.value;
    END IF;
    INSERT INTO changes (seq, at, op, type, dbid, tenant, folder, prev_tenant, prev_folder, frame, proxy_frame)
      VALUES (p_seq, p_at, p_op, p_type, p_dbid, p_tenant, p_folder, p_prev_tenant, p_prev_folder, p_frame, p_proxy_frame);
    -- Last: the seq must follow the committed one; the counter row, updated in every commit,
    -- orders commits and is locked only from here to the commit.
    UPDATE counters SET value = p_seq WHERE name = 'seq' AND value = p_seq - 1;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'seq % does not follow the last committed seq', p_seq USING ERRCODE = 'CP002';
    END IF;
  END $$;
  `,
  // 2: the chain hash of each change [PROTO-LINEAGE-7], and the identity of the table that holds
  // them: pg_restore makes the table anew (a new oid), so a restore is seen even though the
  // restored rows say nothing of it.
  `
  ALTER TABLE changes ADD COLUMN chain text;
  INSERT INTO identity (name, value) VALUES ('changes_oid', 'changes'::regclass::oid::text) ON CONFLICT (name) DO NOTHING;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The two keys of the advisory locks (`pg_advisory_lock(int, int)`): 'cfpx', then what for. */
export const LOCK_CLASS = 0x63667078;
export const LEASE_LOCK = 1;
const MIGRATION_LOCK = 2;

/** Brings the schema to SCHEMA_VERSION; refuses a database made by a newer cfgproxy. Returns the version found. */
export async function migrate(client: pg.Client): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [LOCK_CLASS, MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS cfgproxy_schema (version int NOT NULL)');
    const { rows } = await client.query<{ version: number }>('SELECT version FROM cfgproxy_schema');
    const found = rows[0]?.version ?? 0;
    if (found > SCHEMA_VERSION) {
      throw new Error(`the database's schema is version ${found}, newer than this cfgproxy knows (${SCHEMA_VERSION}): upgrade cfgproxy`);
    }
    for (let version = found + 1; version <= SCHEMA_VERSION; version += 1) await client.query(MIGRATIONS[version - 1]!);
    if (rows.length === 0) await client.query('INSERT INTO cfgproxy_schema (version) VALUES ($1)', [SCHEMA_VERSION]);
    else await client.query('UPDATE cfgproxy_schema SET version = $1', [SCHEMA_VERSION]);
    await client.query('COMMIT');
    return found;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
