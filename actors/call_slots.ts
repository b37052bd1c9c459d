/**
 * The global cap on live tool workers. A call takes a slot before its
 * worker starts and gives it back when the call ends; calls beyond the cap
 * wait, served in turn per conversation, so one conversation with 500
 * calls cannot starve the others.
 *
 * @module
 */

/** A held slot; `release()` may be called more than once. */
export interface Slot {
  release(): void;
}

/** Thrown by {@linkcode CallSlots.acquire} when the waiting line is full. */
export class QueueFull extends Error {
  override name = "QueueFull";
}

/** Sizes of a {@linkcode CallSlots}. */
export interface CallSlotsOptions {
  /** Live workers at most. */
  max: number;
  /** Calls waiting at most; beyond it `acquire` fails and the HTTP API answers 503. */
  maxQueued: number;
}

interface Waiter {
  grant: (slot: Slot) => void;
  fail: (error: Error) => void;
}

/**
 * Counts live calls against a cap, with a fair waiting line.
 *
 * @example
 * ```ts
 * import { CallSlots } from "./call_slots.ts";
 * import { assertEquals } from "@std/assert";
 * const slots = new CallSlots({ max: 1, maxQueued: 10 });
 * const first = slots.tryAcquire()!;
 * const second = slots.acquire("conversation-b");
 * assertEquals(slots.queued, 1);
 * first.release();
 * (await second).release();
 * assertEquals(slots.live, 0);
 * ```
 */
export class CallSlots {
  readonly max: number;
  readonly maxQueued: number;
  #live = 0;
  #queued = 0;
  /** Waiters per conversation, in the order conversations are served. */
  readonly #lines = new Map<string, Waiter[]>();

  constructor({ max, maxQueued }: CallSlotsOptions) {
    this.max = max;
    this.maxQueued = maxQueued;
  }

  /** Calls holding a slot. */
  get live(): number {
    return this.#live;
  }

  /** Calls waiting for one. */
  get queued(): number {
    return this.#queued;
  }

  /** Whether the waiting line is full: new work should be refused, not taken on. */
  get full(): boolean {
    return this.#queued >= this.maxQueued;
  }

  /** A slot at once, or `undefined` if none is free or others wait already. */
  tryAcquire(): Slot | undefined {
    if (this.#live >= this.max || this.#queued > 0) return undefined;
    return this.#take();
  }

  /**
   * A slot when one is free and it is `owner`'s turn. Rejects with
   * {@linkcode QueueFull} if the line is full, or with the signal's reason
   * if it aborts first.
   */
  acquire(owner: string, signal?: AbortSignal): Promise<Slot> {
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    if (this.full) {
      return Promise.reject(new QueueFull(`${this.#queued} tool calls are waiting already`));
    }
    signal?.throwIfAborted();
    const { promise, resolve, reject } = Promise.withResolvers<Slot>();
    const waiter: Waiter = {
      grant: (slot) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(slot);
      },
      fail: reject,
    };
    const onAbort = () => {
      const line = this.#lines.get(owner);
      const at = line?.indexOf(waiter) ?? -1;
      if (at < 0) return;
      line!.splice(at, 1);
      if (line!.length === 0) this.#lines.delete(owner);
      this.#queued--;
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const line = this.#lines.get(owner);
    if (line) line.push(waiter);
    else this.#lines.set(owner, [waiter]);
    this.#queued++;
    return promise;
  }

  #take(): Slot {
    this.#live++;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.#live--;
        this.#next();
      },
    };
  }

  /** Serves the conversation whose turn it is, then moves it to the back of the line. */
  #next(): void {
    const [owner, line] = this.#lines.entries().next().value ?? [];
    if (!owner || !line || this.#live >= this.max) return;
    const waiter = line.shift()!;
    this.#lines.delete(owner);
    if (line.length > 0) this.#lines.set(owner, line);
    this.#queued--;
    waiter.grant(this.#take());
  }
}
