/**
 * The journal (see `journal.ts`) in Deno KV: a file, `:memory:`, or the
 * platform's own KV.
 *
 * Keys:
 * - `["conversation", id]`: that it exists, and when it was created
 * - `["by_time", createdAt, id]`: the same, in the order conversations are listed, with
 *   its title (the start of its first message, written with that message)
 * - `["log", id, seq]`: its records, from 0 (`created`) on
 * - `["open", id]`: present while a turn has started and not ended
 * - `["inbox", id, at, n]`: messages and task results not yet taken into a turn
 * - `["lease", id]`: the process that drives it
 * - `["node", node]`: a process, and until when it is known to be alive
 * - `["task", taskId]`, `["task_result", taskId]`, `["running_task", taskId]`
 * - `["task_expiry", expiresAt, taskId]`: a handed-off task that ends timed out then
 * - `["approval", id, callId]`: the decision on a call awaiting approval, written once
 * - `["aside", kind, id]` and index keys beside it: what an edge keeps of its own
 *   (the A2A tasks), of any size, replaced whole
 * - `["pending_blob", blob]`: chunks of a large value whose head is not committed yet
 * - `["meta", "orphans_scanned"]`: that chunks older versions left behind were removed
 * - `["meta", "listing_indexed"]`: that conversations older versions wrote are in `by_time`
 *
 * Values over 60 KB are stored in chunks under their key (`_stored_value.ts`);
 * nothing else is ever left under a key.
 * @module
 */
import {
  deleteOrphans,
  deleteValue,
  discardValues,
  eachValue,
  findOrphans,
  type ListedValue,
  listValues,
  type OrphanChunk,
  type PreparedValue,
  prepareValue,
  readValue,
  type StoredValue,
  storeValue,
  sweepPending,
} from "./_stored_value.ts";
import { CommitGroup, type KvWrite, type WriteResult } from "./_commit_group.ts";
import {
  applyRecord,
  type ApprovalDecision,
  type ConversationState,
  type JournalRecord,
} from "./records.ts";
import {
  type ConversationSummary,
  type InboxEntry,
  type IndexKey,
  type Journal,
  type JournalHealth,
  type LeaseResult,
  type LoadedConversation,
  titleOf,
} from "./journal.ts";
import { retryWhileBusy, storageProblem } from "./storage_errors.ts";
import { HealthWatch } from "./_health_watch.ts";
import type { InboxItem, TaskRecord } from "./tasks.ts";

/** Where values may have chunks: each prefix, and how long the keys of its values are. */
const CHUNKED: [Deno.KvKey, number][] = [
  [["log"], 3],
  [["inbox"], 5],
  [["task_result"], 2],
  [["aside"], 3],
];

/**
 * How old the chunks of an uncommitted write must be before a sweep discards
 * them: far beyond any write's time (a busy store is retried for ~5 s).
 */
export const PENDING_GRACE_MS = 10 * 60_000;

/** Largest sum of record sizes committed at once (the KV limit is 800 KiB). */
const COMMIT_BYTES = 600_000;

/**
 * Opens and writes the journal. The only writer of a conversation's log is
 * the process holding its lease; every append checks that the next slot is
 * still free, so even a writer that lost its lease cannot corrupt the log.
 *
 * @example
 * ```ts ignore
 * await using journal = await KvJournal.open(":memory:");
 * await journal.create("c1", { type: "created", modelName: "claude-sonnet-5-5", tools: [], at: Date.now() });
 * const { state } = (await journal.load("c1"))!;
 * ```
 */
export class KvJournal implements Journal {
  readonly kv: Deno.Kv;
  /** The store's file, when it is one (not ":memory:", not the platform's KV). */
  readonly address: string | undefined;
  readonly #group: CommitGroup;
  #inboxCounter = 0;
  readonly #watch = new HealthWatch(storageProblem);

  constructor(kv: Deno.Kv, file?: string) {
    this.kv = kv;
    this.address = file;
    this.#group = new CommitGroup(kv);
  }

  /** Commits one atomic write, grouped with the ones of other conversations that wait. */
  #commit(checks: Deno.AtomicCheck[], mutations: Deno.KvMutation[]): Promise<WriteResult> {
    const write: KvWrite = { checks, mutations };
    return retryWhileBusy(() => this.#group.commit(write));
  }

  /**
   * Opens the store at `path` (a file, or ":memory:"); none means the
   * platform's own KV. A damaged or unwritable file is found here, with a
   * {@linkcode JournalUnavailable} saying so, not at the first turn.
   */
  static async open(path?: string): Promise<KvJournal> {
    const file = path && path !== ":memory:" ? path : undefined;
    const journal = new KvJournal(await Deno.openKv(path), file);
    try {
      await journal.#op(() => journal.kv.set(["opened"], Date.now()));
      await journal.#op(() => journal.#indexOlderConversations());
    } catch (error) {
      journal.close();
      throw error;
    }
    return journal;
  }

  /** Whether the last operation on the store succeeded; if not, why. */
  get health(): JournalHealth {
    return this.#watch.health;
  }

  /**
   * Every operation goes through here: retried while another process holds
   * the store, and turned into a {@linkcode JournalUnavailable} (which
   * marks the journal unhealthy until an operation succeeds) when the store
   * itself fails.
   */
  #op<T>(operation: () => Promise<T>): Promise<T> {
    return this.#watch.run(() => retryWhileBusy(operation));
  }

  /** Writes a new conversation's first record. */
  create(id: string, created: Extract<JournalRecord, { type: "created" }>): Promise<void> {
    return this.#op(async () => {
      const prepared = await prepareValue(this.kv, ["log", id, 0], created);
      const { checks, mutations } = storeValue(prepared);
      const result = await this.#commit(
        [{ key: ["conversation", id], versionstamp: null }, ...checks],
        [
          { type: "set", key: ["conversation", id], value: { createdAt: created.at } },
          { type: "set", key: ["by_time", created.at, id], value: { title: "" } },
          ...mutations,
        ],
      );
      if (result.ok) return;
      await discardValues(this.kv, [prepared]);
      throw new Error(`Conversation ${id} exists already.`);
    });
  }

  /** Rebuilds a conversation from its records, or undefined if there is none. */
  async load(id: string): Promise<LoadedConversation | undefined> {
    const loaded = { state: { id } as ConversationState, seq: -1 };
    await this.catchUp(id, loaded);
    return loaded.seq < 0 ? undefined : loaded;
  }

  /**
   * The newest conversations first, at most `limit`: when each was created,
   * whether a turn is open, and the first message's start as its title.
   * Reads only what it returns, however many conversations there are.
   */
  list(limit: number): Promise<ConversationSummary[]> {
    return this.#op(async () => {
      const listed = this.kv.list<{ title: string }>({ prefix: ["by_time"] }, {
        reverse: true,
        limit,
      });
      // Turns open now: as many as run at once (and any a crash left), not one per conversation.
      const open = new Set<unknown>();
      for await (const { key } of this.kv.list({ prefix: ["open"] })) open.add(key[1]);
      return (await Array.fromAsync(listed)).map(({ key, value }) => ({
        id: key[2] as string,
        createdAt: key[1] as number,
        title: value.title,
        turnOpen: open.has(key[2]),
      }));
    });
  }

  /**
   * Puts the conversations that versions before the listing index wrote
   * into it, with their titles: once per journal, at its first opening.
   */
  async #indexOlderConversations(): Promise<void> {
    if ((await this.kv.get(["meta", "listing_indexed"])).versionstamp) return;
    const conversations = this.kv.list<{ createdAt: number }>({ prefix: ["conversation"] });
    for await (const { key, value } of conversations) {
      const id = key[1] as string;
      const first = await readValue<JournalRecord>(this.kv, ["log", id, 1]);
      const title = first?.type === "turn_started" ? titleOf(first) : "";
      await this.kv.set(["by_time", value.createdAt, id], { title });
    }
    await this.kv.set(["meta", "listing_indexed"], Date.now());
  }

  /** Every record of a conversation, with its sequence number. */
  records(id: string): Promise<{ seq: number; record: JournalRecord }[]> {
    return Array.fromAsync(this.eachRecord(id));
  }

  /**
   * The records of a conversation one at a time, as they are read: for
   * readers that must not hold a whole long conversation in memory.
   */
  async *eachRecord(id: string): AsyncGenerator<{ seq: number; record: JournalRecord }> {
    const values = eachValue<JournalRecord>(this.kv, { prefix: ["log", id] }, 3);
    while (true) {
      const next = await this.#op(() => values.next());
      if (next.done) return;
      yield { seq: next.value.key[2] as number, record: next.value.value };
    }
  }

  /** Applies the records written after `loaded.seq` (by another process) to `loaded`. */
  async catchUp(
    id: string,
    loaded: LoadedConversation,
  ): Promise<{ seq: number; record: JournalRecord }[]> {
    const records = await this.#op(() =>
      listValues<JournalRecord>(
        this.kv,
        { prefix: ["log", id], start: ["log", id, loaded.seq + 1] },
        3,
      )
    );
    return records.map(({ key, value }) => {
      applyRecord(loaded.state, value);
      loaded.seq = key[2] as number;
      return { seq: loaded.seq, record: value };
    });
  }

  /**
   * Appends records after `seq`, consuming an inbox item with the first
   * commit if given. With `lease`, every commit also checks that the lease
   * is still the one taken, so a process that lost the conversation to
   * another cannot write one more record; with `releaseLease` too, the
   * last commit gives the lease back. Returns the new last sequence
   * number, or undefined if someone else wrote first or took the lease.
   */
  append(
    id: string,
    seq: number,
    records: JournalRecord[],
    { consume: entry, lease, releaseLease = false }: {
      consume?: InboxEntry<unknown>;
      lease?: string;
      releaseLease?: boolean;
    } = {},
  ): Promise<number | undefined> {
    // Entries come from this journal's own inbox reads.
    let consume = entry as ListedValue<unknown> | undefined;
    return this.#op(async () => {
      let next = seq + 1;
      const batches = await this.#prepare(id, next, records);
      const listing = await this.#listingKey(id, next);
      for (const [at, batch] of batches.entries()) {
        const checks: Deno.AtomicCheck[] = [{ key: ["log", id, next], versionstamp: null }];
        const mutations: Deno.KvMutation[] = [];
        if (lease) checks.push({ key: ["lease", id], versionstamp: lease });
        if (lease && releaseLease && at === batches.length - 1) {
          mutations.push({ type: "delete", key: ["lease", id] });
        }
        if (consume) {
          checks.push(consume);
          mutations.push(...deleteValue(consume.key, consume.head));
          consume = undefined;
        }
        for (const { record, prepared } of batch) {
          const write = logWrite(id, record, prepared, listing);
          checks.push(...write.checks);
          mutations.push(...write.mutations);
        }
        // Retried per commit: a busy store committed nothing, and an earlier batch stays.
        if (!(await this.#commit(checks, mutations)).ok) {
          await discardValues(this.kv, batches.slice(at).flat().map((one) => one.prepared));
          return undefined;
        }
        next += batch.length;
      }
      return next - 1;
    });
  }

  /**
   * Starts a turn of a conversation nobody holds: takes the lease for
   * `node` and appends `started` after `seq` in one commit, so an idle
   * conversation's message needs no inbox entry and no read (that nothing
   * follows `seq` proves the caller has the whole log). Resolves with the
   * lease and the new last sequence number, or undefined if the lease is
   * held or the log has moved on.
   */
  startTurnTakingLease(
    id: string,
    node: string,
    seq: number,
    started: Extract<JournalRecord, { type: "turn_started" }>,
  ): Promise<{ lease: string; seq: number } | undefined> {
    return this.#op(async () => {
      const lease = ["lease", id];
      const key = ["log", id, seq + 1];
      const prepared = await prepareValue(this.kv, key, started);
      const listing = await this.#listingKey(id, seq + 1);
      const { checks, mutations } = logWrite(id, started, prepared, listing);
      const result = await this.#commit(
        [{ key: lease, versionstamp: null }, { key, versionstamp: null }, ...checks],
        [{ type: "set", key: lease, value: { node } }, ...mutations],
      );
      if (result.ok) return { lease: result.versionstamp, seq: seq + 1 };
      await discardValues(this.kv, [prepared]);
      return undefined;
    });
  }

  /** The conversation's listing entry, for a write whose first record is its first message. */
  async #listingKey(id: string, first: number): Promise<Deno.KvKey | undefined> {
    if (first !== 1) return undefined;
    const conversation = await this.kv.get<{ createdAt: number }>(["conversation", id]);
    return conversation.value ? ["by_time", conversation.value.createdAt, id] : undefined;
  }

  async #prepare(id: string, first: number, records: JournalRecord[]) {
    const batches: { record: JournalRecord; prepared: PreparedValue }[][] = [[]];
    let bytes = 0;
    for (const [i, record] of records.entries()) {
      const prepared = await prepareValue(this.kv, ["log", id, first + i], record);
      const size = prepared.head instanceof Uint8Array ? prepared.head.length : 100;
      if (bytes + size > COMMIT_BYTES && batches.at(-1)!.length > 0) {
        batches.push([]);
        bytes = 0;
      }
      batches.at(-1)!.push({ record, prepared });
      bytes += size;
    }
    return batches;
  }

  /** Puts an item in a conversation's inbox, where it waits for a turn. */
  async enqueue(id: string, item: InboxItem): Promise<KvInboxEntry> {
    const entry = await this.#enqueue(id, item);
    if (!entry) throw new Error("The inbox refused a write that checks nothing.");
    return entry;
  }

  /**
   * Journals `item` in the inbox and takes the conversation's lease for
   * `node` in the same commit, if the lease is free. Returns undefined, and
   * writes nothing, if it is not.
   */
  async enqueueTakingLease(
    id: string,
    node: string,
    item: InboxItem,
  ): Promise<{ entry: KvInboxEntry; lease: string } | undefined> {
    const entry = await this.#enqueue(id, item, node);
    return entry && { entry, lease: entry.versionstamp };
  }

  /** With `leaseFor`, the commit also takes the free lease for that node, or writes nothing. */
  #enqueue(
    id: string,
    item: InboxItem,
    leaseFor?: string,
  ): Promise<KvInboxEntry | undefined> {
    const key = ["inbox", id, Date.now(), ++this.#inboxCounter, crypto.randomUUID()];
    const lease = ["lease", id];
    return this.#op(async () => {
      const prepared = await prepareValue(this.kv, key, item);
      const { checks, mutations } = storeValue(prepared);
      if (leaseFor) {
        mutations.push({ type: "set", key: lease, value: { node: leaseFor } });
        checks.push({ key: lease, versionstamp: null });
      }
      const result = await this.#commit(checks, mutations);
      if (result.ok) {
        return inboxEntry({
          key,
          versionstamp: result.versionstamp,
          value: item,
          head: prepared.head,
        });
      }
      await discardValues(this.kv, [prepared]);
      return undefined;
    });
  }

  /** A conversation's inbox, oldest first. */
  inbox(id: string): Promise<KvInboxEntry[]> {
    return this.#op(async () =>
      (await listValues<InboxItem>(this.kv, { prefix: ["inbox", id] }, 5)).map(inboxEntry)
    );
  }

  /** Conversations with an open turn or a waiting inbox item: the work a crash may have left. */
  unfinished(): Promise<Set<string>> {
    return this.#op(async () => {
      const ids = new Set<string>();
      for (const prefix of [["open"], ["inbox"]]) {
        for await (const entry of this.kv.list({ prefix }, { batchSize: 1000 })) {
          if (entry.key.length === 2 || entry.key.length === 5) ids.add(entry.key[1] as string);
        }
      }
      return ids;
    });
  }

  /** Whether the conversation has an open turn or a waiting inbox item right now. */
  hasWork(id: string): Promise<boolean> {
    return this.#op(async () => {
      if ((await this.kv.get(["open", id])).versionstamp !== null) return true;
      for await (const _ of this.kv.list({ prefix: ["inbox", id] }, { limit: 1 })) return true;
      return false;
    });
  }

  /** Records that `node` is alive for `ttlMs` more. */
  async heartbeat(node: string, ttlMs: number): Promise<void> {
    await this.#op(() =>
      this.kv.set(["node", node], { until: Date.now() + ttlMs, pid: Deno.pid }, {
        expireIn: ttlMs * 10,
      })
    );
  }

  /** Says that `node` has stopped: its conversations may be taken over at once. */
  async forget(node: string): Promise<void> {
    await this.#op(() => this.kv.delete(["node", node]));
  }

  /** Whether `node` has sent a heartbeat that has not run out yet. */
  async isAlive(node: string): Promise<boolean> {
    const entry = await this.#op(() => this.kv.get<{ until: number }>(["node", node]));
    return (entry.value?.until ?? 0) > Date.now();
  }

  /** The live process other than `node` that holds the conversation's lease, if any. */
  async heldElsewhere(id: string, node: string): Promise<string | undefined> {
    const holder = (await this.#op(() => this.kv.get<{ node: string }>(["lease", id]))).value?.node;
    return holder && holder !== node && await this.isAlive(holder) ? holder : undefined;
  }

  /**
   * Takes the conversation's lease for `node`, unless a live process holds
   * it. A free lease (the usual case) is taken in one commit, with no read.
   */
  acquireLease(id: string, node: string): Promise<LeaseResult> {
    const key = ["lease", id];
    const take = (versionstamp: string | null) =>
      this.#commit([{ key, versionstamp }], [{ type: "set", key, value: { node } }]);
    return this.#op(async (): Promise<LeaseResult> => {
      const free = await take(null);
      if (free.ok) return { ok: true, lease: free.versionstamp };
      const lease = await this.kv.get<{ node: string }>(key);
      const holder = lease.value?.node;
      if (holder === node) return { ok: true, lease: lease.versionstamp! };
      if (holder && await this.isAlive(holder)) return { ok: false, holder };
      const result = await take(lease.versionstamp);
      return result.ok
        ? { ok: true, lease: result.versionstamp }
        : { ok: false, holder: "another process" };
    });
  }

  /** Gives back the lease taken as `lease` (its versionstamp), unless someone has taken it since. */
  releaseLease(id: string, lease: string): Promise<void> {
    return this.#op(async () => {
      const key = ["lease", id];
      await this.#commit([{ key, versionstamp: lease }], [{ type: "delete", key }]);
    });
  }

  /**
   * Records a task that has started (or was handed off: it then has no node,
   * and no restart can interrupt it).
   */
  startTask(task: TaskRecord): Promise<void> {
    return this.#op(async () => {
      const running = ["running_task", task.taskId];
      await this.#commit([], [
        { type: "set", key: ["task", task.taskId], value: task },
        task.node
          ? { type: "set", key: running, value: { node: task.node } }
          : { type: "delete", key: running },
        ...(task.expiresAt === undefined
          ? []
          : [{ type: "set" as const, key: expiryKey(task), value: true }]),
      ]);
    });
  }

  /** A task and its result, if it has one. */
  task(taskId: string): Promise<{ task: TaskRecord; result?: string } | undefined> {
    return this.#op(async () => {
      const task = (await this.kv.get<TaskRecord>(["task", taskId])).value;
      if (!task) return undefined;
      return { task, result: await readValue<string>(this.kv, ["task_result", taskId]) };
    });
  }

  /**
   * Finishes a running task with its result and puts it in its
   * conversation's inbox, in one commit. Returns the finished task, or
   * undefined, changing nothing, if it had finished already (a second delivery).
   */
  finishTask(
    taskId: string,
    outcome: { state: TaskRecord["state"]; content: string },
  ): Promise<TaskRecord | undefined> {
    return this.#op(() => this.#finishTask(taskId, outcome));
  }

  async #finishTask(
    taskId: string,
    outcome: { state: TaskRecord["state"]; content: string },
  ): Promise<TaskRecord | undefined> {
    while (true) {
      // Checked before anything is written: a delivery that changes nothing writes nothing.
      const entry = await this.kv.get<TaskRecord>(["task", taskId]);
      if (!entry.value || entry.value.state !== "running") return undefined;
      const task = { ...entry.value, state: outcome.state, finishedAt: Date.now() };
      const inboxKey = ["inbox", task.conversationId, Date.now(), ++this.#inboxCounter, taskId];
      const item: InboxItem = { type: "task_result", taskId };
      const values = [
        await prepareValue(this.kv, ["task_result", taskId], outcome.content),
        await prepareValue(this.kv, inboxKey, item),
      ];
      const writes = values.map(storeValue);
      const result = await this.#commit(
        [entry, ...writes.flatMap((write) => write.checks)],
        [
          { type: "set", key: entry.key, value: task },
          { type: "delete", key: ["running_task", taskId] },
          ...(task.expiresAt === undefined
            ? []
            : [{ type: "delete" as const, key: expiryKey(task) }]),
          ...writes.flatMap((write) => write.mutations),
        ],
      );
      if (result.ok) return task;
      await discardValues(this.kv, values);
    }
  }

  /**
   * Records the decision on a call awaiting approval, unless there is one
   * already: a call is decided once. Returns whether this decision counted.
   */
  decide(id: string, callId: string, decision: ApprovalDecision): Promise<boolean> {
    const key = ["approval", id, callId];
    return this.#op(async () =>
      (await this.#commit([{ key, versionstamp: null }], [{ type: "set", key, value: decision }]))
        .ok
    );
  }

  /** The decision on a call, if one was made. */
  async decisionOf(id: string, callId: string): Promise<ApprovalDecision | undefined> {
    const entry = await this.#op(() => this.kv.get<ApprovalDecision>(["approval", id, callId]));
    return entry.value ?? undefined;
  }

  /**
   * Stores `value` (of any size) as `id` of `kind`, replacing whatever was
   * there and its chunks, and sets the `index` keys (small, valueless) in
   * the same commit.
   */
  saveAside(kind: string, id: string, value: unknown, index: IndexKey[] = []): Promise<void> {
    const key = ["aside", kind, id];
    return this.#op(async () => {
      while (true) {
        const old = await this.kv.get<StoredValue>(key);
        const prepared = await prepareValue(this.kv, key, value);
        const { checks, mutations } = storeValue(prepared);
        const replaced = old.value ? deleteValue(key, old.value).slice(1) : [];
        const result = await this.#commit([old, ...checks], [
          ...replaced,
          ...mutations,
          ...index.map((key): Deno.KvMutation => ({ type: "set", key: [...key], value: true })),
        ]);
        if (result.ok) return;
        await discardValues(this.kv, [prepared]); // saved meanwhile by another: again over it
      }
    });
  }

  /** The value stored as `id` of `kind`, if any. */
  readAside<T>(kind: string, id: string): Promise<T | undefined> {
    return this.#op(() => readValue<T>(this.kv, ["aside", kind, id]));
  }

  /**
   * The keys under an index `prefix` (set by {@linkcode saveAside}), in
   * reverse key order (newest first for time-ordered keys), at most
   * `limit`, from below `before` when given.
   */
  indexKeys(
    prefix: IndexKey,
    { limit, before }: { limit?: number; before?: IndexKey } = {},
  ): Promise<IndexKey[]> {
    const selector = before ? { prefix: [...prefix], end: [...before] } : { prefix: [...prefix] };
    return this.#op(async () => {
      const entries = await Array.fromAsync(this.kv.list(selector, { reverse: true, limit }));
      return entries.map((entry) => entry.key as IndexKey);
    });
  }

  /** The handed-off tasks whose time ran out by `now` with no result. */
  expiredTasks(now: number): Promise<(TaskRecord & { expiresAt: number })[]> {
    return this.#op(async () => {
      const due = this.kv.list({ prefix: ["task_expiry"], end: ["task_expiry", now] });
      const tasks = [];
      for await (const { key } of due) {
        const task = (await this.kv.get<TaskRecord>(["task", key[2] as string])).value;
        if (task?.expiresAt !== undefined) tasks.push({ ...task, expiresAt: task.expiresAt });
      }
      return tasks;
    });
  }

  /** Tasks still running, with the process that runs them. */
  runningTasks(): Promise<{ taskId: string; node: string }[]> {
    return this.#op(async () => {
      const tasks = [];
      for await (const entry of this.kv.list<{ node: string }>({ prefix: ["running_task"] })) {
        tasks.push({ taskId: entry.key[1] as string, node: entry.value.node });
      }
      return tasks;
    });
  }

  /**
   * Removes chunks no value owns: those of writes that never committed
   * (older than `graceMs`), and, once per journal, any that versions before
   * this one left behind. Returns how many writes and chunks it removed.
   */
  sweepChunks(now: number = Date.now(), graceMs: number = PENDING_GRACE_MS): Promise<number> {
    return this.#op(async () => {
      let removed = await sweepPending(this.kv, now, graceMs);
      if ((await this.kv.get(["meta", "orphans_scanned"])).versionstamp) return removed;
      removed += await deleteOrphans(this.kv, await this.orphans());
      await this.kv.set(["meta", "orphans_scanned"], now);
      return removed;
    });
  }

  /**
   * Chunks that no stored value owns and no write under way claims. Reads
   * the whole journal: for the one-time scan and for tests.
   */
  async orphans(): Promise<OrphanChunk[]> {
    const found = await Promise.all(
      CHUNKED.map(([prefix, depth]) => this.#op(() => findOrphans(this.kv, prefix, depth))),
    );
    return found.flat();
  }

  /** Closes the store. */
  close(): void {
    this.kv.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * What appending `record` (prepared at its key) checks and writes: the
 * record, the open-turn marker that a turn's start sets and its end clears,
 * and with the first turn's start the conversation's title in its
 * `listing` entry.
 */
function logWrite(
  id: string,
  record: JournalRecord,
  prepared: PreparedValue,
  listing?: Deno.KvKey,
): { checks: Deno.AtomicCheck[]; mutations: Deno.KvMutation[] } {
  const { checks, mutations } = storeValue(prepared);
  if (record.type === "turn_started") {
    mutations.push({ type: "set", key: ["open", id], value: true });
    // The first message names the conversation in listings.
    if (listing && prepared.key[2] === 1) {
      mutations.push({ type: "set", key: listing, value: { title: titleOf(record) } });
    }
  }
  if (record.type === "turn_ended") mutations.push({ type: "delete", key: ["open", id] });
  return { checks, mutations };
}

/** An inbox item as this backend reads it: its key (with its chunks) is what a consume deletes. */
type KvInboxEntry = ListedValue<InboxItem> & InboxEntry<InboxItem>;

function inboxEntry(entry: ListedValue<InboxItem>): KvInboxEntry {
  return { ...entry, id: JSON.stringify(entry.key) };
}

function expiryKey(task: TaskRecord): Deno.KvKey {
  return ["task_expiry", task.expiresAt!, task.taskId];
}
