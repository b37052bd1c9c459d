/**
 * A conversation's events as its watchers see them: each stamped with an id
 * in journal order and handed to the listeners; the latest kept for clients
 * that reconnect; the calls in flight tracked for the conversation's status.
 * Durable events are made from the records as they become durable, by the
 * code a replay uses, so that a replay gives them their live ids and times;
 * the rest (streamed text, progress, a call queued) are emitted as they happen.
 *
 * @module
 */
import type { ConversationEvent, ConversationEventInit } from "../../src/events.ts";
import type { Journal } from "../../src/journal/journal.ts";
import type { ConversationState, JournalRecord } from "../../src/journal/records.ts";
import {
  EVENT_ID_STRIDE,
  RecordReplay,
  replayEvents,
  seqOfEventId,
  STREAMED_LIVE,
} from "../../src/journal/record_events.ts";
import type { LogWatcher, SeqRecord } from "./conversation_log.ts";

/** A tool call that has started and not yet finished. */
export interface CallInFlight {
  callId: string;
  name: string;
  /** `queued` while it waits for a worker slot, `awaiting_approval` for a person's decision. */
  state: "awaiting_approval" | "queued" | "running";
  /** When it began to wait or, once running, started. */
  since: number;
  /** The attempt running, from 2, once an idempotent call is retried. */
  attempt?: number;
}

/** The events that put a call in flight, and the state each gives it. */
const IN_FLIGHT_STATES = {
  tool_call_awaiting_approval: "awaiting_approval",
  tool_call_queued: "queued",
  tool_call_started: "running",
} as const;

function putsInFlight(
  event: ConversationEventInit,
): event is Extract<ConversationEventInit, { type: keyof typeof IN_FLIGHT_STATES }> {
  return event.type in IN_FLIGHT_STATES;
}

/** How many recent events a feed keeps for clients that reconnect. */
const RECENT_EVENTS = 1_000;

/**
 * The events of one conversation.
 *
 * @example
 * ```ts ignore
 * const feed = new EventFeed(journal, conversationId);
 * feed.subscribe((event) => console.log(event.id, event.type));
 * const log = new ConversationLog(journal, node, loaded, { onLost, watcher: feed });
 * feed.emit({ type: "model_call_started", step: 1 }, log.seq);
 * ```
 */
export class EventFeed implements LogWatcher {
  readonly #journal: Journal;
  readonly #conversationId: string;
  readonly #listeners = new Set<(event: ConversationEvent) => void>();
  readonly #inFlight = new Map<string, CallInFlight>();
  /** The latest events, for clients that reconnect (`Last-Event-ID`). */
  readonly #recent: ConversationEvent[] = [];
  /** The journal seq the last event id was given at, and how many ids since. */
  #idSeq = -1;
  #idCount = 0;
  /** Makes the events of each durable record, from the state the log was read at. */
  #replay: RecordReplay | undefined;
  /** Whether records are on their way to the journal, and the events that wait for them. */
  #writing = false;
  readonly #held: { event: ConversationEventInit; at: number }[] = [];
  /** Events relayed by the server driving the conversation, waiting for the records before them. */
  readonly #remote: ConversationEvent[] = [];
  /** Whether a reply's streamed events were relayed since the last reply's record. */
  #streamRelayed = false;
  #watchedElsewhereUntil = 0;

  constructor(journal: Journal, conversationId: string) {
    this.#journal = journal;
    this.#conversationId = conversationId;
  }

  /** Whether anyone listens, here or (lately) on another server. */
  get watched(): boolean {
    return this.watchedHere || Date.now() < this.#watchedElsewhereUntil;
  }

  /** Whether anyone listens here. */
  get watchedHere(): boolean {
    return this.#listeners.size > 0;
  }

  /** Someone watches on another server, and will say so again before `until` (epoch ms). */
  watchedElsewhere(until: number): void {
    this.#watchedElsewhereUntil = until;
  }

  /** The calls started and not yet finished. */
  get callsInFlight(): CallInFlight[] {
    return [...this.#inFlight.values()];
  }

  /** The conversation as read from the journal at `seq`: the records after it make the events. */
  loaded(state: ConversationState, seq: number): void {
    this.#replay = RecordReplay.from(this.#conversationId, state, seq);
    // Ids go on after the records read (never back: a reload may read what was announced).
    if (seq > this.#idSeq) [this.#idSeq, this.#idCount] = [seq, 0];
    this.#trackLoaded(state);
  }

  /**
   * The calls of the open turn that the journal has running or awaiting a
   * decision: read mid-turn (another server drives it, or a reload), they
   * are in flight though no event here said so.
   */
  #trackLoaded(state: ConversationState): void {
    if (!state.openTurn) return;
    for (const call of state.calls.values()) {
      if (call.state !== "running" && call.state !== "awaiting_approval") continue;
      const { callId, name, state, attempts, since = Date.now() } = call;
      if (this.#inFlight.has(callId)) continue;
      const retried = attempts > 1 ? { attempt: attempts } : {};
      this.#inFlight.set(callId, { callId, name, state, since, ...retried });
    }
  }

  /** Records are on their way to the journal: events that happen meanwhile wait for them. */
  writing(): void {
    this.#writing = true;
  }

  /**
   * Announces the events of records just made durable, with the ids and
   * times a replay gives them. The streamed ones are not sent again (they
   * went out as they came), but keep their places in the ids. Events that
   * waited for them go out among them by time, and all of them once the
   * log is `settled`: ids and times then rise together.
   */
  durable(entries: SeqRecord[], settled: boolean): void {
    for (const { seq, record } of entries) {
      this.#release((held) => held.at <= (record.at ?? 0));
      this.#announce(seq, record, (event) => !STREAMED_LIVE.has(event.type));
    }
    if (!settled) return;
    this.#writing = false;
    this.#release(() => true);
  }

  /**
   * Announces the events of records another process wrote (it drives the
   * conversation, or drove it before a crash): all of them, the streamed
   * ones too, for they never went out here; with the ids they had there.
   */
  foreign(entries: SeqRecord[]): void {
    for (const { seq, record } of entries) {
      // Relayed events that came after the records before this one go out first.
      this.#releaseRemote();
      // A reply whose text was relayed as it streamed is not told again.
      const streamed = record.type === "assistant" && this.#streamRelayed;
      if (record.type === "assistant") this.#streamRelayed = false;
      this.#announce(seq, record, (event) => !(streamed && STREAMED_LIVE.has(event.type)));
    }
    this.#releaseRemote();
  }

  /**
   * Events that no record stands for, relayed by the server driving the
   * conversation, with the ids they have there. Each goes out once the
   * records before it have been read here, so that ids rise here as there.
   */
  remote(events: ConversationEvent[]): void {
    this.#remote.push(...events);
    this.#releaseRemote();
  }

  #releaseRemote(): void {
    while (this.#remote.length > 0 && seqOfEventId(this.#remote[0].id) <= this.#idSeq) {
      const event = this.#remote.shift()!;
      // One that comes after later ones (it cannot, as the driver sends them) is left out.
      if (event.id <= (this.#recent.at(-1)?.id ?? -1)) continue;
      if (STREAMED_LIVE.has(event.type)) this.#streamRelayed = true;
      this.#track(event, event.at);
      this.#deliver(event);
    }
  }

  /** Delivers the events of the record at `seq` that `sent` picks; each keeps its place in the ids. */
  #announce(seq: number, record: JournalRecord, sent: (event: ConversationEvent) => boolean): void {
    const events = this.#replay?.next(seq, record) ?? [];
    for (const event of events.filter(sent)) {
      this.#track(event, event.at);
      this.#deliver(event);
    }
    [this.#idSeq, this.#idCount] = [seq, events.length];
  }

  /**
   * Stamps an event that no record stands for and hands it to every
   * listener; while records are on their way, it waits for them. Its id
   * follows `seq`, the journal's last durable record, after that record's
   * own events: ids sort as the journal does.
   */
  emit(event: ConversationEventInit, seq: number): void {
    const at = Date.now();
    this.#track(event, at);
    if (this.#writing) return void this.#held.push({ event, at });
    if (seq !== this.#idSeq) [this.#idSeq, this.#idCount] = [seq, 0];
    this.#stamp(event, at);
  }

  /** Sends the waiting events that `due` picks, in the order they happened. */
  #release(due: (held: { at: number }) => boolean): void {
    while (this.#held.length > 0 && due(this.#held[0])) {
      const { event, at } = this.#held.shift()!;
      this.#stamp(event, at);
    }
  }

  #stamp(event: ConversationEventInit, at: number): void {
    const stamped = {
      ...event,
      conversationId: this.#conversationId,
      id: this.#idSeq * EVENT_ID_STRIDE + this.#idCount++,
      at,
    } as ConversationEvent;
    this.#deliver(stamped);
    // No record stands for it: the other servers' watchers hear it from here.
    this.#journal.publish?.(this.#conversationId, [stamped]);
  }

  #deliver(event: ConversationEvent): void {
    this.#recent.push(event);
    if (this.#recent.length > RECENT_EVENTS) this.#recent.shift();
    for (const listener of this.#listeners) listener(event);
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  subscribe(listener: (event: ConversationEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The events after the one with id `lastId`: from memory when it reaches
   * back that far, else rebuilt from the journal (after a restart, or in
   * another process), where only durable events are, followed by those of
   * this process since the journal's last record. They come as the journal
   * is read: a replay of a long conversation holds one record at a time.
   */
  async *eventsAfter(lastId: number): AsyncGenerator<ConversationEvent> {
    const oldest = this.#recent[0];
    if (oldest && oldest.id <= lastId) {
      return yield* this.#recent.filter((event) => event.id > lastId);
    }
    const records = this.#journal.eachRecord(this.#conversationId);
    let newest = lastId;
    for await (const event of replayEvents(this.#conversationId, records, seqOfEventId(lastId))) {
      newest = event.id;
      yield event;
    }
    // What came since the journal's last record (streamed text, progress) is only in memory.
    yield* this.#recent.filter((event) => event.id > newest);
  }

  #track(event: ConversationEventInit, at: number): void {
    if (putsInFlight(event)) {
      const { callId, name } = event;
      this.#inFlight.set(callId, { callId, name, state: IN_FLIGHT_STATES[event.type], since: at });
    } else if (event.type === "tool_call_retrying") {
      const call = this.#inFlight.get(event.callId);
      if (call) call.attempt = event.attempt;
    } else if (event.type === "tool_call_finished") this.#inFlight.delete(event.callId);
  }
}
