/**
 * The journal (see `journal.ts`) in PostgreSQL, through the npm `postgres`
 * client: what any number of servers on any number of machines share.
 * Every write that must be atomic is one statement (an append is the
 * schema's `agent_append`) or one transaction; a lease is a row whose
 * token (from a sequence) fences its holder's appends. Every write is told
 * to the other servers (`_pg_notifications.ts`). Values are
 * stored as their JSON text, so a record reads back byte for byte as it
 * was written (what the prompt cache needs of a history).
 *
 * @module
 */
import postgres, { type Sql, type TransactionSql } from "postgres";
import {
  type ConversationSummary,
  type DriverRequest,
  type InboxEntry,
  type IndexKey,
  type Journal,
  type JournalChange,
  type JournalHealth,
  type LeaseResult,
  type LoadedConversation,
  titleOf,
} from "./journal.ts";
import {
  applyRecord,
  type ApprovalDecision,
  type ConversationState,
  type JournalRecord,
} from "./records.ts";
import { HealthWatch } from "./_health_watch.ts";
import type { InboxItem, TaskRecord } from "./tasks.ts";
import type { ConversationEvent } from "../events.ts";
import { migrate, SchemaTooNew } from "./pg_schema.ts";
import { CHANNEL, PgNotifications } from "./_pg_notifications.ts";

/** Connections each server keeps at most (one more for its heartbeat, on its own thread). */
export const POOL_SIZE = 10;
/** A statement that runs longer than this is cancelled: the journal is then reported unavailable. */
const STATEMENT_TIMEOUT_MS = 15_000;
/** How long to wait for a connection to the database before reporting it unreachable. */
const CONNECT_TIMEOUT_S = 5;
/** Records read at once when a log is read a page at a time. */
const PAGE = 500;

/** Thrown inside a transaction to roll it back when a check fails. */
class CheckFailed extends Error {}

/** The journal in PostgreSQL. */
export class PgJournal implements Journal {
  readonly address: string | undefined;
  readonly #sql: Sql;
  readonly #watch: HealthWatch;
  readonly #notifications: PgNotifications;

  private constructor(address: string | undefined, sql: Sql) {
    this.address = address;
    this.#sql = sql;
    this.#watch = new HealthWatch(pgProblem);
    this.#notifications = new PgNotifications(sql);
  }

  /**
   * Connects to the database at `address`
   * (`postgres://user:password@host:port/db`) and creates or migrates its
   * tables. An unreachable database, or one with a newer schema, is found
   * here, with a {@linkcode JournalUnavailable} saying so.
   */
  static open(address: string): Promise<PgJournal> {
    const sql = postgres(address, {
      max: POOL_SIZE,
      connect_timeout: CONNECT_TIMEOUT_S,
      idle_timeout: 60,
      onnotice: () => {},
      connection: {
        application_name: "agent-runtime",
        statement_timeout: STATEMENT_TIMEOUT_MS,
      },
    });
    return PgJournal.#start(new PgJournal(address, sql));
  }

  /**
   * The journal in the database that `sql` (an npm `postgres` client the
   * caller made, with its own pool and settings) connects to. Closing the
   * journal ends the client. Nothing else can open it by address, so the
   * heartbeat runs on the main thread.
   */
  static withClient(sql: Sql): Promise<PgJournal> {
    return PgJournal.#start(new PgJournal(undefined, sql));
  }

  static async #start(journal: PgJournal): Promise<PgJournal> {
    try {
      await journal.#op(() => migrate(journal.#sql));
    } catch (error) {
      await journal.#sql.end({ timeout: 1 });
      throw error;
    }
    return journal;
  }

  get health(): JournalHealth {
    return this.#watch.health;
  }

  /**
   * Every operation goes through here: a database that cannot be reached
   * (or that cancels a statement) becomes a {@linkcode JournalUnavailable},
   * and marks the journal unhealthy until an operation succeeds.
   */
  #op<T>(operation: () => Promise<T>): Promise<T> {
    return this.#watch.run(operation);
  }

  /** Runs `write` in a transaction; undefined if it threw {@linkcode CheckFailed} or hit a taken key. */
  #transaction<T>(write: (tx: TransactionSql) => Promise<T>): Promise<T | undefined> {
    return this.#unlessRefused(async () => await this.#sql.begin(write) as T);
  }

  /** Runs `write`; undefined if it was refused (a check failed, or a key it writes was taken). */
  #unlessRefused<T>(write: () => Promise<T>): Promise<T | undefined> {
    return this.#op(async () => {
      try {
        return await write();
      } catch (error) {
        if (error instanceof CheckFailed || isUniqueViolation(error)) return undefined;
        throw error;
      }
    });
  }

  async create(id: string, created: Extract<JournalRecord, { type: "created" }>): Promise<void> {
    const done = await this.#unlessRefused(async () => {
      await this.#sql`with conversation as (
          insert into agent_conversations (id, created_at) values (${id}, ${created.at}))
        insert into agent_log (conversation_id, seq, record)
          values (${id}, 0, ${JSON.stringify(created)})`;
      return true;
    });
    if (!done) throw new Error(`Conversation ${id} exists already.`);
  }

  async load(id: string): Promise<LoadedConversation | undefined> {
    const loaded = { state: { id } as ConversationState, seq: -1 };
    await this.catchUp(id, loaded);
    return loaded.seq < 0 ? undefined : loaded;
  }

  list(limit: number): Promise<ConversationSummary[]> {
    return this.#op(async () => {
      const rows = await this.#sql<
        { id: string; created_at: string; title: string; open: boolean }[]
      >`
        select id, created_at, title, open from agent_conversations
        order by created_at desc, id desc limit ${limit}`;
      return rows.map((row) => ({
        id: row.id,
        createdAt: Number(row.created_at),
        title: row.title,
        turnOpen: row.open,
      }));
    });
  }

  records(id: string): Promise<{ seq: number; record: JournalRecord }[]> {
    return Array.fromAsync(this.eachRecord(id));
  }

  async *eachRecord(
    id: string,
    after = -1,
  ): AsyncGenerator<{ seq: number; record: JournalRecord }> {
    while (true) {
      const rows = await this.#op(() =>
        this.#sql<{ seq: number; record: string }[]>`
          select seq, record from agent_log where conversation_id = ${id} and seq > ${after}
          order by seq limit ${PAGE}`
      );
      for (const row of rows) yield { seq: row.seq, record: JSON.parse(row.record) };
      if (rows.length < PAGE) return;
      after = rows.at(-1)!.seq;
    }
  }

  async catchUp(
    id: string,
    loaded: LoadedConversation,
  ): Promise<{ seq: number; record: JournalRecord }[]> {
    const applied = [];
    for await (const entry of this.eachRecord(id, loaded.seq)) {
      applyRecord(loaded.state, entry.record);
      loaded.seq = entry.seq;
      applied.push(entry);
    }
    return applied;
  }

  /** Every server hears every write (`NOTIFY`, sent as its transaction commits), but its own. */
  watch(listener: (change: JournalChange) => void): Promise<AsyncDisposable> {
    return this.#op(() => this.#notifications.listen(listener));
  }

  publish(conversationId: string, events: ConversationEvent[]): void {
    this.#notifications.publish(conversationId, events);
  }

  async askDriver(conversationId: string, request: DriverRequest): Promise<void> {
    await this.#op(() => this.#notifications.tell(this.#sql, request, conversationId));
  }

  async append(
    id: string,
    seq: number,
    records: JournalRecord[],
    { consume, lease, releaseLease = false }: {
      consume?: InboxEntry<unknown>;
      lease?: string;
      releaseLease?: boolean;
    } = {},
  ): Promise<number | undefined> {
    const token = await this.#appendAt(id, seq + 1, records, {
      lease,
      consume: consume?.id,
      release: lease !== undefined && releaseLease,
    });
    return token === undefined ? undefined : seq + records.length;
  }

  async startTurnTakingLease(
    id: string,
    node: string,
    seq: number,
    started: Extract<JournalRecord, { type: "turn_started" }>,
  ): Promise<{ lease: string; seq: number } | undefined> {
    const lease = await this.#appendAt(id, seq + 1, [started], { takeFor: node });
    return lease === undefined ? undefined : { lease, seq: seq + 1 };
  }

  /**
   * Appends `records` from `first` on in one statement (`agent_append`):
   * with the lease taken for `takeFor` or checked to be `lease`, the inbox
   * entry `consume` taken, the lease given back if `release`. The lease's
   * token, or undefined (nothing written) if a check failed or a slot was taken.
   */
  #appendAt(
    id: string,
    first: number,
    records: JournalRecord[],
    options: { lease?: string; consume?: string; release?: boolean; takeFor?: string },
  ): Promise<string | undefined> {
    const { open, title } = listingOf(first, records);
    return this.#unlessRefused(async () => {
      // Events relayed before these records are told before them: notifications arrive in
      // the order their statements commit, so the other servers' ids rise as here.
      await this.#notifications.sent();
      const [row] = await this.#sql<{ token: string | null }[]>`select agent_append(
        ${id}, ${first}, ${records.map((record) => JSON.stringify(record))}::text[],
        ${open}, ${title}, ${options.lease ?? null}, ${options.consume ?? null},
        ${options.release ?? false}, ${
        options.takeFor ?? null
      }, ${this.#notifications.writer}) as token`;
      return row.token === null ? undefined : String(row.token);
    });
  }

  async enqueue(id: string, item: InboxItem): Promise<InboxEntry<InboxItem>> {
    return await this.#op(() => insertInbox(this.#sql, this.#notifications, id, item));
  }

  enqueueTakingLease(
    id: string,
    node: string,
    item: InboxItem,
  ): Promise<{ entry: InboxEntry<InboxItem>; lease: string } | undefined> {
    return this.#transaction(async (tx) => {
      const lease = await takeFreeLease(tx, id, node);
      return { entry: await insertInbox(tx, this.#notifications, id, item), lease };
    });
  }

  inbox(id: string): Promise<InboxEntry<InboxItem>[]> {
    return this.#op(async () => {
      const rows = await this.#sql<{ n: string; item: string }[]>`
        select n, item from agent_inbox where conversation_id = ${id} order by n`;
      return rows.map((row) => ({ id: row.n, value: JSON.parse(row.item) }));
    });
  }

  unfinished(): Promise<Set<string>> {
    return this.#op(async () => {
      const rows = await this.#sql<{ id: string }[]>`
        select id from agent_conversations where open
        union select distinct conversation_id from agent_inbox`;
      return new Set(rows.map((row) => row.id));
    });
  }

  hasWork(id: string): Promise<boolean> {
    return this.#op(async () => {
      const [row] = await this.#sql<{ work: boolean }[]>`select
        exists (select 1 from agent_conversations where id = ${id} and open)
        or exists (select 1 from agent_inbox where conversation_id = ${id}) as work`;
      return row.work;
    });
  }

  async heartbeat(node: string, ttlMs: number): Promise<void> {
    const now = Date.now();
    await this.#op(() =>
      this.#sql`insert into agent_nodes (node, until_ms, pid) values (${node}, ${
        now + ttlMs
      }, ${Deno.pid})
        on conflict (node) do update set until_ms = excluded.until_ms`
    );
  }

  async forget(node: string): Promise<void> {
    // Nodes long gone are removed with it: each restart is a new node.
    await this.#op(() =>
      this.#sql`delete from agent_nodes where node = ${node} or until_ms < ${
        Date.now() - 86_400_000
      }`
    );
  }

  async isAlive(node: string): Promise<boolean> {
    const [row] = await this.#op(() =>
      this.#sql<{ until_ms: string }[]>`select until_ms from agent_nodes where node = ${node}`
    );
    return Number(row?.until_ms ?? 0) > Date.now();
  }

  async heldElsewhere(id: string, node: string): Promise<string | undefined> {
    const [row] = await this.#op(() =>
      this.#sql<{ node: string }[]>`select node from agent_leases where conversation_id = ${id}`
    );
    const holder = row?.node;
    return holder && holder !== node && await this.isAlive(holder) ? holder : undefined;
  }

  async acquireLease(id: string, node: string): Promise<LeaseResult> {
    const taken = await this.#transaction(async (tx): Promise<LeaseResult> => {
      const [held] = await tx<{ node: string; token: string }[]>`
        select node, token from agent_leases where conversation_id = ${id} for update`;
      if (!held) return { ok: true, lease: await takeFreeLease(tx, id, node) };
      if (held.node === node) return { ok: true, lease: String(held.token) };
      const [alive] = await tx`select 1 from agent_nodes
        where node = ${held.node} and until_ms > ${Date.now()}`;
      if (alive) return { ok: false, holder: held.node };
      const [row] = await tx<{ token: string }[]>`update agent_leases
        set node = ${node}, token = nextval('agent_lease_tokens')
        where conversation_id = ${id} returning token`;
      return { ok: true, lease: String(row.token) };
    });
    return taken ?? { ok: false, holder: "another process" };
  }

  async releaseLease(id: string, lease: string): Promise<void> {
    await this.#op(() =>
      this.#sql`delete from agent_leases where conversation_id = ${id} and token = ${lease}`
    );
  }

  async startTask(task: TaskRecord): Promise<void> {
    await this.#op(() =>
      this.#sql`insert into agent_tasks (task_id, task, running_node, expiry_ms)
        values (${task.taskId}, ${JSON.stringify(task)}, ${task.node ?? null}, ${
        task.expiresAt ?? null
      })
        on conflict (task_id) do update set task = excluded.task,
          running_node = excluded.running_node, expiry_ms = excluded.expiry_ms`
    );
  }

  async task(taskId: string): Promise<{ task: TaskRecord; result?: string } | undefined> {
    const [row] = await this.#op(() =>
      this.#sql<{ task: string; result: string | null }[]>`
        select task, result from agent_tasks where task_id = ${taskId}`
    );
    if (!row) return undefined;
    return { task: JSON.parse(row.task), result: row.result ?? undefined };
  }

  finishTask(
    taskId: string,
    outcome: { state: TaskRecord["state"]; content: string },
  ): Promise<TaskRecord | undefined> {
    return this.#transaction(async (tx) => {
      const [row] = await tx<{ task: string }[]>`
        select task from agent_tasks where task_id = ${taskId} for update`;
      const running: TaskRecord | undefined = row && JSON.parse(row.task);
      if (!running || running.state !== "running") return undefined;
      const task = { ...running, state: outcome.state, finishedAt: Date.now() };
      await tx`update agent_tasks set task = ${JSON.stringify(task)}, result = ${outcome.content},
        running_node = null, expiry_ms = null where task_id = ${taskId}`;
      await insertInbox(tx, this.#notifications, task.conversationId, {
        type: "task_result",
        taskId,
      });
      return task;
    });
  }

  expiredTasks(now: number): Promise<(TaskRecord & { expiresAt: number })[]> {
    return this.#op(async () => {
      const rows = await this.#sql<{ task: string }[]>`
        select task from agent_tasks where expiry_ms < ${now} order by expiry_ms`;
      return rows.map((row) => JSON.parse(row.task))
        .filter((task: TaskRecord) => task.expiresAt !== undefined);
    });
  }

  runningTasks(): Promise<{ taskId: string; node: string }[]> {
    return this.#op(async () => {
      const rows = await this.#sql<{ task_id: string; running_node: string }[]>`
        select task_id, running_node from agent_tasks where running_node is not null`;
      return rows.map((row) => ({ taskId: row.task_id, node: row.running_node }));
    });
  }

  decide(id: string, callId: string, decision: ApprovalDecision): Promise<boolean> {
    return this.#op(async () => {
      const inserted = await this
        .#sql`insert into agent_approvals (conversation_id, call_id, decision)
        values (${id}, ${callId}, ${JSON.stringify(decision)}) on conflict do nothing`;
      return inserted.count === 1;
    });
  }

  async decisionOf(id: string, callId: string): Promise<ApprovalDecision | undefined> {
    const [row] = await this.#op(() =>
      this.#sql<{ decision: string }[]>`select decision from agent_approvals
        where conversation_id = ${id} and call_id = ${callId}`
    );
    return row && JSON.parse(row.decision);
  }

  async saveAside(kind: string, id: string, value: unknown, index: IndexKey[] = []): Promise<void> {
    await this.#transaction(async (tx) => {
      await tx`insert into agent_aside (kind, id, value) values (${kind}, ${id}, ${
        JSON.stringify(value)
      })
        on conflict (kind, id) do update set value = excluded.value`;
      for (const key of index) {
        await tx`insert into agent_aside_index (key) values (${tx.json([...key])})
          on conflict do nothing`;
      }
    });
  }

  async readAside<T>(kind: string, id: string): Promise<T | undefined> {
    const [row] = await this.#op(() =>
      this.#sql<
        { value: string }[]
      >`select value from agent_aside where kind = ${kind} and id = ${id}`
    );
    return row && JSON.parse(row.value);
  }

  indexKeys(
    prefix: IndexKey,
    { limit, before }: { limit?: number; before?: IndexKey } = {},
  ): Promise<IndexKey[]> {
    const sql = this.#sql;
    // Keys under one prefix have one length, and jsonb orders such arrays part by part.
    const conditions = [
      sql`jsonb_array_length(key) > ${prefix.length}`,
      ...prefix.map((part, i) => sql`key -> ${i}::int = ${sql.json(part)}`),
      ...(before ? [sql`key < ${sql.json([...before])}`] : []),
    ].reduce((all, condition) => sql`${all} and ${condition}`);
    return this.#op(async () => {
      const rows = await sql<{ key: string }[]>`select key::text as key from agent_aside_index
        where ${conditions} order by key desc ${limit === undefined ? sql`` : sql`limit ${limit}`}`;
      return rows.map((row) => JSON.parse(row.key));
    });
  }

  /** Nothing to sweep: a value is a row, written whole or not at all. */
  sweepChunks(): Promise<number> {
    return Promise.resolve(0);
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * What appending `records` from `first` on does to the conversation's
 * listing: whether a turn is open after them (null: unchanged), and its
 * title when the first turn starts among them.
 */
function listingOf(
  first: number,
  records: JournalRecord[],
): { open: boolean | null; title: string | null } {
  let open: boolean | null = null;
  let title: string | null = null;
  for (const [i, record] of records.entries()) {
    if (record.type === "turn_started") {
      open = true;
      if (first + i === 1) title = titleOf(record);
    } else if (record.type === "turn_ended") open = false;
  }
  return { open, title };
}

/** Takes the conversation's lease if no one holds it; otherwise fails the transaction. */
async function takeFreeLease(tx: TransactionSql, id: string, node: string): Promise<string> {
  const [row] = await tx<
    { token: string }[]
  >`insert into agent_leases (conversation_id, node, token)
    values (${id}, ${node}, nextval('agent_lease_tokens'))
    on conflict do nothing returning token`;
  if (!row) throw new CheckFailed();
  return String(row.token);
}

/** Puts `item` in the inbox and tells the other servers, in one statement. */
async function insertInbox(
  sql: Sql | TransactionSql,
  notifications: PgNotifications,
  id: string,
  item: InboxItem,
): Promise<InboxEntry<InboxItem>> {
  const [row] = await sql<{ n: string }[]>`with added as (
      insert into agent_inbox (conversation_id, item) values (${id}, ${JSON.stringify(item)})
      returning n)
    select n, pg_notify(${CHANNEL}, ${notifications.payload("inbox", id)}) from added`;
  return { id: row.n, value: item };
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string })?.code === "23505";
}

/** SQLSTATE classes and client codes that mean the database cannot be used right now. */
const UNREACHABLE =
  /^(08|57P0[123]|53300|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|CONNECT_TIMEOUT|CONNECTION_)/;

/**
 * The operator's reading of a PostgreSQL error, or undefined if it is not
 * the database's fault.
 */
export function pgProblem(error: unknown): string | undefined {
  const { code = "", message = String(error) } = error as { code?: string; message?: string };
  if (UNREACHABLE.test(code) || /connection refused|connect(ion)? timeout/i.test(message)) {
    return `PostgreSQL cannot be reached (${message})`;
  }
  if (code === "57014") return `PostgreSQL cancelled a statement that ran too long (${message})`;
  if (code === "53100") {
    return "PostgreSQL has no disk space left; free some and it will recover by itself";
  }
  if (code === "28P01" || code === "28000") return `PostgreSQL refused the login (${message})`;
  if (code === "3D000") return `PostgreSQL has no such database (${message}); create it first`;
  if (error instanceof SchemaTooNew) return error.message;
  return undefined;
}
