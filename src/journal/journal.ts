/**
 * The journal's contract: every conversation, its records, its inbox, its
 * lease and its background tasks, kept durably. Two backends keep it:
 * Deno KV (`kv_journal.ts`: a file, `:memory:`, or Deno Deploy's KV) and
 * PostgreSQL (`pg_journal.ts`: any number of servers on any number of
 * machines). One contract suite (`tests/journal_contract_test.ts`) runs
 * against both.
 *
 * @module
 */
import { type JournalRecord, turnText } from "./records.ts";
import type { ApprovalDecision, ConversationState } from "./records.ts";
import type { InboxItem, TaskRecord } from "./tasks.ts";
import type { ConversationEvent } from "../events.ts";

/** A conversation's state and the sequence number of its last record. */
export interface LoadedConversation {
  state: ConversationState;
  seq: number;
}

/**
 * A lease taken (with the token that fences this holder's appends), or
 * who holds it.
 */
export type LeaseResult = { ok: true; lease: string } | { ok: false; holder: string };

/** A conversation as {@linkcode Journal.list} lists it. */
export interface ConversationSummary {
  id: string;
  createdAt: number;
  /** Whether a turn has started and not ended. */
  turnOpen: boolean;
  /** The start of the first message, or "" before there is one. */
  title: string;
}

/** Whether the store takes writes; when not, why, and since when (epoch ms). */
export type JournalHealth = { ok: true } | { ok: false; reason: string; since: number };

/** An item waiting in an inbox, as read: what {@linkcode Journal.append} consumes. */
export interface InboxEntry<T> {
  /** Which entry it is: the same for every read of it. */
  readonly id: string;
  readonly value: T;
}

/**
 * What a process may ask of the one that drives a conversation: to cancel
 * its running turn, or to stream it, for someone watches it there.
 */
export type DriverRequest = "cancel" | "watching";

/**
 * Another process wrote to a conversation (records to its log, an item to
 * its inbox), asks something of whoever drives it, or relays the events of
 * its turn that no record stands for (streamed text, progress), in the
 * order they happened there. `missed`: the watch was cut off and is back,
 * and what was told meanwhile is lost: look again at everything.
 */
export type JournalChange =
  | { kind: "log" | "inbox" | DriverRequest; conversationId: string }
  | { kind: "events"; conversationId: string; events: ConversationEvent[] }
  | { kind: "missed" };

/** A key of an index kept beside a value saved aside: its parts, ordered part by part. */
export type IndexKey = readonly (string | number)[];

/**
 * What the runtime keeps of its conversations. The only writer of a
 * conversation's log is the process holding its lease; every append
 * checks that the next slot is still free (and, given the lease, that it
 * is still held), so even a writer that lost its lease cannot corrupt the log.
 */
export interface Journal extends AsyncDisposable {
  /**
   * Where another thread or process can open this same journal (a file
   * path or a database address), or undefined when nothing else can
   * (`:memory:`, the platform's own KV).
   */
  readonly address: string | undefined;
  /** Whether the last operation on the store succeeded; if not, why. */
  readonly health: JournalHealth;

  /** Writes a new conversation's first record; throws if it exists already. */
  create(id: string, created: Extract<JournalRecord, { type: "created" }>): Promise<void>;
  /** Rebuilds a conversation from its records, or undefined if there is none. */
  load(id: string): Promise<LoadedConversation | undefined>;
  /** The newest conversations first, at most `limit`. */
  list(limit: number): Promise<ConversationSummary[]>;
  /** Every record of a conversation, with its sequence number. */
  records(id: string): Promise<{ seq: number; record: JournalRecord }[]>;
  /** The records one at a time, as they are read (a long conversation is never held whole). */
  eachRecord(id: string): AsyncGenerator<{ seq: number; record: JournalRecord }>;
  /** Applies the records written after `loaded.seq` (by another process) to `loaded`; returns them. */
  catchUp(
    id: string,
    loaded: LoadedConversation,
  ): Promise<{ seq: number; record: JournalRecord }[]>;
  /**
   * Appends records after `seq`, consuming an inbox entry with them if
   * given. With `lease`, the write also checks that the lease is still the
   * one taken; with `releaseLease` too, it gives the lease back. Returns
   * the new last sequence number, or undefined (writing nothing more) if
   * someone else wrote first or took the lease.
   */
  append(
    id: string,
    seq: number,
    records: JournalRecord[],
    options?: { consume?: InboxEntry<unknown>; lease?: string; releaseLease?: boolean },
  ): Promise<number | undefined>;
  /**
   * Starts a turn of a conversation nobody holds: takes the lease for
   * `node` and appends `started` after `seq` at once. Undefined if the
   * lease is held or the log has moved on.
   */
  startTurnTakingLease(
    id: string,
    node: string,
    seq: number,
    started: Extract<JournalRecord, { type: "turn_started" }>,
  ): Promise<{ lease: string; seq: number } | undefined>;

  /** Puts an item in a conversation's inbox, where it waits for a turn. */
  enqueue(id: string, item: InboxItem): Promise<InboxEntry<InboxItem>>;
  /** Enqueues `item` and takes the free lease for `node` at once; undefined, writing nothing, if it is not free. */
  enqueueTakingLease(
    id: string,
    node: string,
    item: InboxItem,
  ): Promise<{ entry: InboxEntry<InboxItem>; lease: string } | undefined>;
  /** A conversation's inbox, oldest first. */
  inbox(id: string): Promise<InboxEntry<InboxItem>[]>;
  /** Conversations with an open turn or a waiting inbox item: the work a crash may have left. */
  unfinished(): Promise<Set<string>>;
  /** Whether the conversation has an open turn or a waiting inbox item right now. */
  hasWork(id: string): Promise<boolean>;

  /** Records that `node` is alive for `ttlMs` more. */
  heartbeat(node: string, ttlMs: number): Promise<void>;
  /** Says that `node` has stopped: its conversations may be taken over at once. */
  forget(node: string): Promise<void>;
  /** Whether `node` has sent a heartbeat that has not run out yet. */
  isAlive(node: string): Promise<boolean>;
  /** The live process other than `node` that holds the conversation's lease, if any. */
  heldElsewhere(id: string, node: string): Promise<string | undefined>;
  /** Takes the conversation's lease for `node`, unless a live process holds it. */
  acquireLease(id: string, node: string): Promise<LeaseResult>;
  /** Gives back the lease taken as `lease`, unless someone has taken it since. */
  releaseLease(id: string, lease: string): Promise<void>;

  /** Records a task that has started (or was handed off: it then has no node). */
  startTask(task: TaskRecord): Promise<void>;
  /** A task and its result, if it has one. */
  task(taskId: string): Promise<{ task: TaskRecord; result?: string } | undefined>;
  /**
   * Finishes a running task with its result and puts it in its
   * conversation's inbox, at once. Undefined, changing nothing, if it had
   * finished already (a second delivery).
   */
  finishTask(
    taskId: string,
    outcome: { state: TaskRecord["state"]; content: string },
  ): Promise<TaskRecord | undefined>;
  /** The handed-off tasks whose time ran out by `now` with no result. */
  expiredTasks(now: number): Promise<(TaskRecord & { expiresAt: number })[]>;
  /** Tasks still running, with the process that runs them. */
  runningTasks(): Promise<{ taskId: string; node: string }[]>;

  /** Records the decision on a call awaiting approval unless there is one: whether this one counted. */
  decide(id: string, callId: string, decision: ApprovalDecision): Promise<boolean>;
  /** The decision on a call, if one was made. */
  decisionOf(id: string, callId: string): Promise<ApprovalDecision | undefined>;

  /** Stores `value` (of any size) as `id` of `kind`, replacing it whole, and sets the `index` keys. */
  saveAside(kind: string, id: string, value: unknown, index?: IndexKey[]): Promise<void>;
  /** The value stored as `id` of `kind`, if any. */
  readAside<T>(kind: string, id: string): Promise<T | undefined>;
  /**
   * The index keys under `prefix`, in reverse key order (newest first for
   * time-ordered keys), at most `limit`, from below `before` when given.
   */
  indexKeys(prefix: IndexKey, options?: { limit?: number; before?: IndexKey }): Promise<IndexKey[]>;

  /**
   * Tells `listener` at once whenever another process writes to a
   * conversation: `"log"` for its records, `"inbox"` for a message or a
   * task result waiting for it. Absent where the store cannot tell (Deno
   * KV): processes sharing it then find others' writes by looking again.
   */
  watch?(listener: (change: JournalChange) => void): Promise<AsyncDisposable>;
  /** Asks the process that drives the conversation (where `watch` is): see {@linkcode DriverRequest}. */
  askDriver?(conversationId: string, request: DriverRequest): Promise<void>;
  /**
   * Relays events that no record stands for to the other processes'
   * `watch`, in order, at most once (lost if the store cannot be reached:
   * what is durable comes again from the records).
   */
  publish?(conversationId: string, events: ConversationEvent[]): void;

  /** Removes what interrupted writes left behind; how many it removed. */
  sweepChunks(): Promise<number>;
  /** Closes the store. */
  close(): void | Promise<void>;
}

/** How much of its first message a conversation's title keeps. */
const TITLE_CHARACTERS = 120;

/** A conversation's title: the start of the message that began its first turn. */
export function titleOf(started: Extract<JournalRecord, { type: "turn_started" }>): string {
  return turnText(started.cause).slice(0, TITLE_CHARACTERS);
}
