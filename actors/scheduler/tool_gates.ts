/**
 * Per-tool concurrency and rate limits: a call of a tool at its limit waits,
 * in arrival order, until a running call ends or the last second's starts
 * leave room.
 *
 * @module
 */

/** A tool's limits on its calls; omitted means unlimited. */
export interface ToolRate {
  /** Calls of the tool running at once, across every conversation. */
  maxConcurrent?: number;
  /** Calls of the tool started in any one second. */
  perSecond?: number;
}

/** Ends a call's hold on its tool's gate. */
export type GateRelease = () => void;

/** Hands a waiting call its place. */
type Waiter = (release: GateRelease) => void;

/**
 * The gates of every tool, shared by every conversation.
 *
 * @example
 * ```ts
 * import { ToolGates } from "./tool_gates.ts";
 * import { assertEquals } from "@std/assert";
 * const gates = new ToolGates();
 * const first = gates.tryEnter("lookup", { maxConcurrent: 1 })!;
 * assertEquals(gates.tryEnter("lookup", { maxConcurrent: 1 }), undefined);
 * first();
 * ```
 */
export class ToolGates {
  readonly #gates = new Map<string, Gate>();
  readonly #clock: () => number;

  constructor(clock: () => number = () => performance.now()) {
    this.#clock = clock;
  }

  /** Enters at once if the tool's limits allow, else `undefined`. */
  tryEnter(tool: string, rate: ToolRate): GateRelease | undefined {
    if (!limited(rate)) return () => {};
    return this.#gate(tool, rate).tryEnter();
  }

  /** Waits for room under the tool's limits; rejects if `signal` aborts first. */
  enter(tool: string, rate: ToolRate, signal: AbortSignal): Promise<GateRelease> {
    if (!limited(rate)) return Promise.resolve(() => {});
    return this.#gate(tool, rate).enter(signal);
  }

  /** Calls waiting for the tool's gate. */
  queued(tool: string): number {
    return this.#gates.get(tool)?.waiting ?? 0;
  }

  #gate(tool: string, rate: ToolRate): Gate {
    let gate = this.#gates.get(tool);
    if (!gate) this.#gates.set(tool, gate = new Gate(this.#clock));
    gate.rate = rate;
    return gate;
  }
}

function limited(rate: ToolRate): boolean {
  return rate.maxConcurrent !== undefined || rate.perSecond !== undefined;
}

class Gate {
  rate: ToolRate = {};
  #running = 0;
  /** Start times within the last second. */
  #starts: number[] = [];
  #waiters: Waiter[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #clock: () => number;

  constructor(clock: () => number) {
    this.#clock = clock;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  tryEnter(): GateRelease | undefined {
    return this.#waiters.length === 0 && this.#wait() === 0 ? this.#start() : undefined;
  }

  enter(signal: AbortSignal): Promise<GateRelease> {
    const release = this.tryEnter();
    if (release) return Promise.resolve(release);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = (release) => {
        signal.removeEventListener("abort", onAbort);
        resolve(release);
      };
      const onAbort = () => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#pump();
    });
  }

  /** 0 if a call may start now; else how long until the rate allows one (Infinity: until one ends). */
  #wait(): number {
    const { maxConcurrent, perSecond } = this.rate;
    if (maxConcurrent !== undefined && this.#running >= maxConcurrent) return Infinity;
    if (perSecond === undefined) return 0;
    const now = this.#clock();
    this.#starts = this.#starts.filter((at) => now - at < 1000);
    return this.#starts.length < perSecond ? 0 : this.#starts[0] + 1000 - now;
  }

  #start(): GateRelease {
    this.#running++;
    this.#starts.push(this.#clock());
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      this.#pump();
    };
  }

  #pump(): void {
    clearTimeout(this.#timer);
    while (this.#waiters.length > 0) {
      const wait = this.#wait();
      if (wait === Infinity) return;
      if (wait > 0) {
        this.#timer = setTimeout(() => this.#pump(), wait);
        return;
      }
      this.#waiters.shift()!(this.#start());
    }
  }
}
