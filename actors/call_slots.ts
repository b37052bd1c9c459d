/**
 * The global cap on live tool workers. A call takes a slot before its
 * worker starts and gives it back when the call ends; calls beyond the cap
 * wait, served in turn per conversation, so one conversation with 500
 * calls cannot starve the others. Interactive calls go before low-priority
 * ones (background tasks, tools declared `priority: "low"`), yet every
 * {@linkcode LOW_PRIORITY_TURN}th slot goes to a low one if any waits, so
 * a steady stream of interactive calls cannot starve them either.
 *
 * @module
 */
import type { CallPriority } from "../src/tool.ts";
import { FairLine } from "./_fair_line.ts";

/** While both kinds wait, one slot in this many goes to a low-priority call. */
export const LOW_PRIORITY_TURN = 4;

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

/** How a call waits for a slot. */
export interface AcquireOptions {
  /** Default `normal`. */
  priority?: CallPriority;
  /** Aborting it takes the call out of the line. */
  signal?: AbortSignal;
}

/** Hands a waiting call its slot. */
type Waiter = (slot: Slot) => void;

/**
 * Counts live calls against a cap, with a fair waiting line.
 *
 * @example
 * ```ts
 * import { CallSlots } from "./call_slots.ts";
 * import { assertEquals } from "@std/assert";
 * const slots = new CallSlots({ max: 1, maxQueued: 10 });
 * const first = slots.tryAcquire()!;
 * const second = slots.acquire("conversation-b", { priority: "low" });
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
  readonly #lines: Record<CallPriority, FairLine<Waiter>> = {
    normal: new FairLine(),
    low: new FairLine(),
  };
  /** Slots given to normal calls in a row while low ones waited. */
  #normalRun = 0;

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
    return this.#lines.normal.size + this.#lines.low.size;
  }

  /** Whether the waiting line is full: new work should be refused, not taken on. */
  get full(): boolean {
    return this.queued >= this.maxQueued;
  }

  /** A slot at once, or `undefined` if none is free or others wait already. */
  tryAcquire(): Slot | undefined {
    if (this.#live >= this.max || this.queued > 0) return undefined;
    return this.#take();
  }

  /**
   * A slot when one is free and it is `owner`'s turn. Rejects with
   * {@linkcode QueueFull} if the line is full, or with the signal's reason
   * if it aborts first.
   */
  acquire(owner: string, { priority = "normal", signal }: AcquireOptions = {}): Promise<Slot> {
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    if (this.full) {
      return Promise.reject(new QueueFull(`${this.queued} tool calls are waiting already`));
    }
    signal?.throwIfAborted();
    const { promise, resolve, reject } = Promise.withResolvers<Slot>();
    const line = this.#lines[priority];
    const waiter: Waiter = (slot) => {
      signal?.removeEventListener("abort", onAbort);
      resolve(slot);
    };
    const onAbort = () => {
      if (line.remove(owner, waiter)) reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    line.push(owner, waiter);
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

  #next(): void {
    if (this.#live >= this.max) return;
    const { normal, low } = this.#lines;
    const lowsTurn = low.size > 0 &&
      (normal.size === 0 || this.#normalRun >= LOW_PRIORITY_TURN - 1);
    if (lowsTurn) this.#normalRun = 0;
    else if (low.size > 0) this.#normalRun++;
    (lowsTurn ? low : normal).shift()?.(this.#take());
  }
}
