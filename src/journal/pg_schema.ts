/**
 * The journal's tables in PostgreSQL, created and migrated at start-up.
 * The schema's version is kept in `agent_journal_schema`; a runtime refuses
 * a database whose schema is newer than it knows, rather than write into
 * tables it does not understand. Servers that start at once take turns
 * (an advisory lock), so the tables are created once.
 *
 * @module
 */
import type { Sql } from "postgres";

/** The schema this code writes. */
export const SCHEMA_VERSION = 1;

/** Each version's statements, run in order from the database's version to {@linkcode SCHEMA_VERSION}. */
const MIGRATIONS: Record<number, string[]> = {
  1: [
    `create table agent_conversations (
      id text primary key,
      created_at bigint not null,
      title text not null default '',
      open boolean not null default false)`,
    `create index agent_conversations_by_time on agent_conversations (created_at desc, id desc)`,
    `create index agent_conversations_open on agent_conversations (id) where open`,
    `create table agent_log (
      conversation_id text not null,
      seq integer not null,
      record text not null,
      primary key (conversation_id, seq))`,
    `create table agent_inbox (
      n bigserial primary key,
      conversation_id text not null,
      item text not null)`,
    `create index agent_inbox_by_conversation on agent_inbox (conversation_id, n)`,
    `create sequence agent_lease_tokens`,
    `create table agent_leases (
      conversation_id text primary key,
      node text not null,
      token bigint not null)`,
    `create table agent_nodes (node text primary key, until_ms bigint not null, pid integer not null)`,
    `create table agent_tasks (
      task_id text primary key,
      task text not null,
      result text,
      running_node text,
      expiry_ms bigint)`,
    `create index agent_tasks_running on agent_tasks (task_id) where running_node is not null`,
    `create index agent_tasks_expiry on agent_tasks (expiry_ms) where expiry_ms is not null`,
    `create table agent_approvals (
      conversation_id text not null,
      call_id text not null,
      decision text not null,
      primary key (conversation_id, call_id))`,
    `create table agent_aside (
      kind text not null,
      id text not null,
      value text not null,
      primary key (kind, id))`,
    `create table agent_aside_index (key jsonb primary key)`,
  ],
};

/** The database holds a schema newer than this code: a newer runtime wrote it. */
export class SchemaTooNew extends Error {
  override name = "SchemaTooNew";
}

/** Brings the database's schema to {@linkcode SCHEMA_VERSION}, or refuses one that is newer. */
export async function migrate(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('agent_journal_schema'))`;
    await tx`create table if not exists agent_journal_schema (version integer not null)`;
    const [row] = await tx<{ version: number }[]>`select version from agent_journal_schema`;
    const version = row?.version ?? 0;
    if (version > SCHEMA_VERSION) {
      throw new SchemaTooNew(
        `the database's journal schema is version ${version}, newer than this runtime's (${SCHEMA_VERSION}): run a runtime as new as the one that wrote it`,
      );
    }
    for (let next = version + 1; next <= SCHEMA_VERSION; next++) {
      for (const statement of MIGRATIONS[next]) await tx.unsafe(statement);
    }
    if (!row) await tx`insert into agent_journal_schema (version) values (${SCHEMA_VERSION})`;
    else await tx`update agent_journal_schema set version = ${SCHEMA_VERSION}`;
  });
}
