/**
 * A supervisor's hold on its conversation in the journal: the state, which
 * runs ahead of the journal by the writes under way; appends, one commit at
 * a time with the records that wait joining the next; and the lease that
 * fences them, so that one process at a time writes the conversation.
 *
 * @module
 */
import type {
  InboxEntry,
  Journal,
  LeaseResult,
  LoadedConversation,
} from "../../src/journal/journal.ts";
import {
  applyRecord,
  type ConversationState,
  type JournalRecord,
  type TurnCause,
} from "../../src/journal/records.ts";
import type { InboxItem } from "../../src/journal/tasks.ts";
import { JournalUnavailable } from "../../src/journal/storage_errors.ts";

/** Thrown when the journal no longer takes this process's writes. */
export class LeaseLost extends Error {}

/** How a write goes with the lease and the inbox. */
export interface WriteOptions {
  /** An inbox entry the same commit removes (a message taken into a turn). */
  consume?: InboxEntry<unknown>;
  /** Give the lease back in the same commit. */
  release?: boolean;
}

/** A record with the sequence number it was journaled at. */
export interface SeqRecord {
  seq: number;
  record: JournalRecord;
}

/**
 * Told when records are on their way to the journal, of the records once
 * they are durable, in journal order (`settled` when no other is on its
 * way), and of the state whenever it is read from the journal (at first
 * and after a catch-up): the durable events are made from exactly these.
 */
export interface LogWatcher {
  writing(): void;
  durable(entries: SeqRecord[], settled: boolean): void;
  loaded(state: ConversationState, seq: number): void;
  /** Records another process wrote, read here after those it read before. */
  foreign(entries: SeqRecord[]): void;
}

/** What a {@linkcode ConversationLog} tells and asks beyond the journal. */
export interface LogEdges {
  /** Told of a write that failed for good: the calls whose results it carried must stop. */
  onLost: () => void;
  watcher?: LogWatcher;
  /** The time records that carry none are stamped with. Default `Date.now`. */
  clock?: () => number;
}

interface WaitingWrite {
  records: JournalRecord[];
  release: boolean;
  written: Promise<void>;
}

/**
 * The journal as one conversation's supervisor writes it.
 *
 * @example
 * ```ts ignore
 * const log = new ConversationLog(journal, "node-1", await journal.load(id), { onLost: () => turn.abort() });
 * if ((await log.acquire()).ok) await log.write([{ type: "turn_ended", status: "completed", stopReason: "end_turn", text: "Hi" }]);
 * ```
 */
export class ConversationLog {
  readonly #journal: Journal;
  /** This process, as leases name it. */
  readonly #node: string;
  readonly #loaded: LoadedConversation;
  readonly #edges: LogEdges;
  /** The versionstamp of the lease this process holds, which fences its appends. */
  #lease: string | undefined;
  /** Whether this process holds `#lease` (taken and not given back or lost). */
  #held = false;
  #leaseOps: Promise<unknown> = Promise.resolve();
  #writes: Promise<unknown> = Promise.resolve();
  /** The latest write, failing if it failed (where `#writes` never fails). */
  #lastWrite: Promise<void> = Promise.resolve();
  /** The write that waits for the one under way; later records join it. */
  #waitingWrite: WaitingWrite | undefined;
  /** Records applied to the state and left for the next write to carry. */
  #staged: JournalRecord[] = [];
  /** Records timed and on their way to the journal, not yet durable. */
  #unwritten = 0;
  /** A write failed, so the state holds records the journal does not: read it again. */
  #stale = false;

  constructor(journal: Journal, node: string, loaded: LoadedConversation, edges: LogEdges) {
    this.#journal = journal;
    this.#node = node;
    this.#loaded = loaded;
    this.#edges = edges;
    edges.watcher?.loaded(loaded.state, loaded.seq);
  }

  /** The conversation as this process has written it, durable or not yet. */
  get state(): ConversationState {
    return this.#loaded.state;
  }

  /** The sequence number of the last durable record. */
  get seq(): number {
    return this.#loaded.seq;
  }

  /** Whether this process holds the lease. */
  get leaseHeld(): boolean {
    return this.#held;
  }

  /** Whether a write failed and the state waits to be read again ({@linkcode refresh}). */
  get stale(): boolean {
    return this.#stale;
  }

  /**
   * Applies records to the state and appends them, one write at a time.
   * Writes asked for while one is under way wait together and go as one
   * commit (a journal commit costs about as much CPU as a tool call on a
   * reused worker). Whatever acts outside this process on a record waits
   * for its write. A refused append means another process took the
   * conversation over: it rejects with {@linkcode LeaseLost}.
   */
  write(records: JournalRecord[], { consume, release = false }: WriteOptions = {}): Promise<void> {
    const now = this.#now();
    records = records.map((record) => record.at === undefined ? { ...record, at: now } : record);
    for (const record of records) applyRecord(this.#loaded.state, record);
    // A staged record is timed as it is written, so that its events never come out of time order.
    for (const record of this.#staged) record.at ??= now;
    records = [...this.#staged.splice(0), ...records];
    // Nothing new: what was asked for so far is durable once the latest write is.
    if (records.length === 0) return this.#waitingWrite?.written ?? this.#lastWrite;
    this.#unwritten += records.length;
    this.#edges.watcher?.writing();
    if (this.#waitingWrite && !consume) {
      this.#waitingWrite.records.push(...records);
      this.#waitingWrite.release ||= release;
      return this.#waitingWrite.written;
    }
    const batch: WaitingWrite = { records, release, written: Promise.resolve() };
    this.#waitingWrite = batch;
    batch.written = this.#writes.then(() => this.#append(batch, consume)).catch((error) => {
      this.#stale = true;
      this.#unwritten = 0; // nothing more lands: what waited for it goes out now
      this.#edges.watcher?.durable([], true);
      if (error instanceof LeaseLost || error instanceof JournalUnavailable) this.#edges.onLost();
      throw error;
    });
    this.#writes = batch.written.catch(() => {});
    this.#lastWrite = batch.written;
    return batch.written;
  }

  /** Applies `record` to the state now and leaves it to the next write to carry. */
  stage(record: JournalRecord): void {
    applyRecord(this.#loaded.state, record);
    this.#staged.push(record);
  }

  /** Takes in what other processes have journaled since this one last looked. */
  refresh(): Promise<void> {
    const caughtUp = this.#writes.then(async () => {
      const seq = this.#loaded.seq;
      if (!this.#stale) {
        const written = await this.#journal.catchUp(this.#loaded.state.id, this.#loaded);
        if (written.length > 0) this.#edges.watcher?.foreign(written);
        return;
      }
      await this.#reload();
      if (this.#loaded.seq !== seq) {
        this.#edges.watcher?.loaded(this.#loaded.state, this.#loaded.seq);
      }
    });
    this.#writes = caughtUp.catch(() => {});
    return caughtUp;
  }

  /** Resolves once the writes and lease changes under way are done. */
  async settled(): Promise<void> {
    await Promise.all([this.#writes, this.#leaseOps]);
  }

  /** Runs `operation` after the lease changes under way. */
  withLease<T>(operation: () => Promise<T>): Promise<T> {
    const done = this.#leaseOps.then(operation);
    this.#leaseOps = done.catch(() => {});
    return done;
  }

  /** Takes the lease, or says who holds it. */
  acquire(): Promise<LeaseResult> {
    return this.withLease(() => this.#take());
  }

  /**
   * Journals the start of a turn for `cause` and takes the free lease in one
   * commit, after the writes under way. Resolves once the record is applied
   * and its commit goes, so that the turn's first request can go meanwhile,
   * with the commit to come: `durable` rejects with {@linkcode LeaseLost} if
   * another process wrote since (or with the journal's failure), and the
   * state is then read again before its next use. Resolves undefined, with
   * nothing applied, while this process holds the lease or a turn is open.
   */
  startTurnTakingLease(cause: TurnCause): Promise<{ durable: Promise<void> } | undefined> {
    const begun = Promise.withResolvers<{ durable: Promise<void> } | undefined>();
    this.withLease(async () => {
      await this.#writes;
      const { id, openTurn, turns } = this.#loaded.state;
      if (this.#held || openTurn) return begun.resolve(undefined);
      const record = { type: "turn_started", turn: turns + 1, cause, at: this.#now() } as const;
      applyRecord(this.#loaded.state, record);
      this.#unwritten++;
      this.#edges.watcher?.writing();
      const durable = this.#journal.startTurnTakingLease(id, this.#node, this.#loaded.seq, record)
        .finally(() => this.#unwritten--)
        .then((taken) => {
          if (!taken) throw new LeaseLost(`Conversation ${id} was written by another process.`);
          this.#hold(taken.lease);
          this.#loaded.seq = taken.seq;
          this.#edges.watcher?.durable([{ seq: taken.seq, record }], this.#unwritten === 0);
        })
        .catch((error) => {
          this.#stale = true; // the record applied is not in the journal
          this.#edges.watcher?.durable([], this.#unwritten === 0);
          throw error;
        });
      // What is written next goes after it; a refresh reads the state again if it failed.
      this.#writes = durable.catch(() => {});
      begun.resolve({ durable });
      await this.#writes;
    }).catch(begun.reject);
    return begun.promise;
  }

  /**
   * Journals `item` in the inbox while holding the lease. A free lease is
   * taken in the same commit (a message whose turn could not start at once,
   * because another process wrote last, still costs one write).
   */
  enqueueHolding(item: InboxItem): Promise<InboxEntry<InboxItem> | { holder: string }> {
    const { id } = this.#loaded.state;
    return this.withLease(async () => {
      if (!this.#held) {
        const taken = await this.#journal.enqueueTakingLease(id, this.#node, item);
        if (taken) {
          this.#hold(taken.lease);
          return taken.entry;
        }
      }
      const lease = await this.#take();
      return lease.ok ? await this.#journal.enqueue(id, item) : lease;
    });
  }

  /** Gives the lease back, after the lease changes under way, unless `stillNeeded()` by then. */
  release(stillNeeded: () => boolean): Promise<void> {
    const released = this.#leaseOps.then(() => {
      if (stillNeeded() || !this.#held || !this.#lease) return;
      this.#held = false;
      return this.#journal.releaseLease(this.#loaded.state.id, this.#lease);
    }).catch(() => {});
    this.#leaseOps = released;
    return released;
  }

  async #append(batch: WaitingWrite, consume?: InboxEntry<unknown>): Promise<void> {
    if (this.#waitingWrite === batch) this.#waitingWrite = undefined;
    // Nothing may land after a write that did not: the log would miss what this one follows.
    if (this.#stale) throw new JournalUnavailable("an earlier write of the conversation failed");
    const seq = await this.#journal.append(this.#loaded.state.id, this.#loaded.seq, batch.records, {
      consume,
      lease: this.#lease,
      releaseLease: batch.release,
    });
    if (seq === undefined) {
      this.#held = false; // someone else holds it now: the next take asks the journal
      throw new LeaseLost();
    }
    if (batch.release) this.#held = false;
    this.#loaded.seq = seq;
    // At once: an event made before the watcher hears of these would take ids theirs have.
    const first = seq - batch.records.length + 1;
    this.#unwritten -= batch.records.length;
    this.#edges.watcher?.durable(
      batch.records.map((record, n) => ({ seq: first + n, record })),
      this.#unwritten === 0,
    );
  }

  #now(): number {
    return (this.#edges.clock ?? Date.now)();
  }

  async #take(): Promise<LeaseResult> {
    // Held since the last take and not given back: no need to ask the journal again.
    if (this.#held && this.#lease) return { ok: true, lease: this.#lease };
    const result = await this.#journal.acquireLease(this.#loaded.state.id, this.#node);
    if (result.ok) this.#hold(result.lease);
    else this.#held = false;
    return result;
  }

  #hold(lease: string): void {
    [this.#lease, this.#held] = [lease, true];
  }

  /** Reads the whole state again, dropping what was applied ahead of a write that failed. */
  async #reload(): Promise<void> {
    const fresh = await this.#journal.load(this.#loaded.state.id);
    if (fresh) Object.assign(this.#loaded, fresh);
    this.#stale = false;
  }
}
