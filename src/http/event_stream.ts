/**
 * Conversation events as server-sent events: `id` is the event's id within
 * the conversation, `event` its type, `data` the event as JSON.
 *
 * @module
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { ConversationEvent } from "../events.ts";

/** Where the events come from, and the ones a reconnecting client missed. */
export interface EventSource {
  subscribe(listener: (event: ConversationEvent) => void): () => void;
  /** The events after `lastId`, read as they are sent. */
  eventsAfter?(lastId: number): AsyncIterable<ConversationEvent>;
}

/**
 * Event data a client may leave unread before its stream is closed: a slow
 * reader reconnects with `Last-Event-ID` and misses nothing, but never grows
 * the server's memory.
 */
export const MAX_UNREAD_BYTES = 1024 * 1024;

/**
 * A cap on the event streams open at once, so that watchers can never hold
 * every connection a server takes and leave none for requests.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { StreamSlots } from "./event_stream.ts";
 * const slots = new StreamSlots(1);
 * const release = slots.take()!;
 * assertEquals(slots.take(), undefined);
 * release();
 * assertEquals(typeof slots.take(), "function");
 * ```
 */
export class StreamSlots {
  #open = 0;
  constructor(readonly max: number) {}

  /** A slot's release function, or undefined if every slot is taken. */
  take(): (() => void) | undefined {
    if (this.#open >= this.max) return undefined;
    this.#open++;
    let released = false;
    return () => {
      if (!released) this.#open--;
      released = true;
    };
  }
}

/** The last event of a stream that the server ends because it shuts down. */
export const SHUTDOWN_EVENT = {
  type: "server_shutdown",
  message:
    "The server is shutting down; reconnect with Last-Event-ID to another instance or later.",
} as const;

/**
 * Streams `source`'s events until `until` returns true for one of them (it is
 * sent, then the stream ends), the client goes away, or `shutdown` aborts
 * (a final `server_shutdown` event is sent). A client that leaves more than
 * {@linkcode MAX_UNREAD_BYTES} unread is dropped. Leaving only unsubscribes:
 * the conversation goes on and records its results.
 *
 * @example
 * ```ts ignore
 * app.get("/events", (c) => streamEvents(c, conversation));
 * ```
 */
export function streamEvents(
  c: Context,
  source: EventSource,
  options: {
    filter?: (event: ConversationEvent) => boolean;
    until?: (event: ConversationEvent) => boolean;
    shutdown?: AbortSignal;
    /** The id of the last event the client has (`Last-Event-ID`): what came after is sent first. */
    after?: number;
    /** Called once the stream has ended (a {@linkcode StreamSlots} slot's release). */
    onEnd?: () => void;
  } = {},
): Response {
  return streamSSE(c, async (stream) => {
    const done = Promise.withResolvers<void>();
    let lastSent = options.after ?? -1;
    const send = async (event: ConversationEvent, data = JSON.stringify(event)) => {
      if (event.id <= lastSent) return; // replayed already
      lastSent = event.id;
      await stream.writeSSE({ id: String(event.id), event: event.type, data });
    };
    // Live events queue behind the replay; they are subscribed to first, so none falls between.
    const missed = options.after === undefined ? undefined : source.eventsAfter?.(options.after);
    let chain = (async () => {
      // One at a time, each written before the next is read: a long replay holds little.
      for await (const event of missed ?? []) await send(event);
    })().catch(() => done.resolve()); // the journal failed mid-replay: the client reconnects
    let unread = 0;
    const unsubscribe = source.subscribe((event) => {
      if (options.filter && !options.filter(event)) return;
      const data = JSON.stringify(event);
      if ((unread += data.length) > MAX_UNREAD_BYTES) return done.resolve();
      // Written in order, one after the other, never concurrently.
      chain = chain.then(() => send(event, data)).finally(() => unread -= data.length);
      if (options.until?.(event)) chain.then(done.resolve, done.resolve);
    });
    stream.onAbort(() => done.resolve());
    const onShutdown = () => {
      chain = chain.then(() =>
        stream.writeSSE({ event: SHUTDOWN_EVENT.type, data: JSON.stringify(SHUTDOWN_EVENT) })
      );
      chain.then(done.resolve, done.resolve);
    };
    if (options.shutdown?.aborted) onShutdown();
    options.shutdown?.addEventListener("abort", onShutdown, { once: true });
    const keepAlive = setInterval(
      () => stream.write(": keep-alive\n\n").catch(() => done.resolve()),
      15_000,
    );
    try {
      await done.promise;
    } finally {
      clearInterval(keepAlive);
      options.shutdown?.removeEventListener("abort", onShutdown);
      unsubscribe();
      options.onEnd?.();
    }
  });
}

/**
 * Subscribes to `source` at once and keeps its events until the first
 * subscriber of the returned source takes them over, so that nothing is
 * missed while a response is being set up. `stop()` ends the buffering.
 *
 * @example
 * ```ts ignore
 * const events = replayable(conversation);
 * await conversation.submit("Hi");
 * return streamEvents(c, events);
 * ```
 */
export function replayable(source: EventSource): EventSource & { stop(): void } {
  const early: ConversationEvent[] = [];
  const stop = source.subscribe((event) => early.push(event));
  return {
    stop,
    subscribe(listener) {
      stop();
      early.forEach(listener);
      return source.subscribe(listener);
    },
  };
}
