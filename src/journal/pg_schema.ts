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
export const SCHEMA_VERSION = 2;

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
  // Appends in one round trip: the checks, the records, the listing, the lease and the
  // notification, in the one statement's transaction (a taken slot rolls it all back).
  2: [
    `create function agent_append(
      p_id text, p_first integer, p_records text[], p_open boolean, p_title text,
      p_lease bigint, p_consume bigint, p_release boolean, p_take_for text, p_writer text)
    returns bigint language plpgsql as $$
    declare v_token bigint := p_lease;
    begin
      if p_take_for is not null then
        insert into agent_leases (conversation_id, node, token)
          values (p_id, p_take_for, nextval('agent_lease_tokens'))
          on conflict do nothing returning token into v_token;
        if v_token is null then return null; end if;
      elsif p_lease is not null then
        perform 1 from agent_leases where conversation_id = p_id and token = p_lease for update;
        if not found then return null; end if;
      end if;
      if p_consume is not null then
        delete from agent_inbox where n = p_consume;
        if not found then return null; end if;
      end if;
      insert into agent_log (conversation_id, seq, record)
        select p_id, p_first + i::integer - 1, r from unnest(p_records) with ordinality as t(r, i);
      if p_open is not null then
        update agent_conversations set open = p_open, title = coalesce(p_title, title)
          where id = p_id;
      end if;
      if p_release then
        delete from agent_leases where conversation_id = p_id and token = v_token;
      end if;
      if cardinality(p_records) > 0 then
        perform pg_notify('agent_journal', p_writer || ' log ' || p_id);
      end if;
      return coalesce(v_token, 0);
    end $$`,
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
