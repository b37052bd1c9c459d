/**
 * Tool workers kept ready, so that a call does not wait for an isolate to
 * start: warm workers (spawned ahead, never used) and, for tools that allow
 * it, workers that served a call and may serve another of the same tool.
 *
 * Refills happen off the caller's path, one worker per macrotask, so that
 * incoming calls never wait behind a burst of `new Worker()`.
 *
 * @module
 */
import type { ToolPermissions } from "../../src/tool.ts";
import { ToolWorker } from "./tool_worker.ts";

/** What a worker is spawned for: one module with one set of permissions. */
export interface WorkerSpec {
  moduleUrl: string;
  permissions: ToolPermissions;
}

/** A worker that served this many calls is retired, whatever its tool allows. */
export const MAX_CALLS_PER_WORKER = 100;

/** How a {@linkcode WorkerPool} sizes itself. */
export interface WorkerPoolOptions {
  /** Most idle workers per spec, warm and reusable together. Default 16. */
  maxIdle?: number;
  /** An idle worker unused this long is stopped; demand is remembered as long. Default 30 s. */
  idleMs?: number;
}

/** How a call on a leased worker ended: `crashed` means its module did not load or threw uncaught. */
export type CallEnd = "succeeded" | "failed" | "crashed";

/** A worker lent to one call. */
export interface WorkerLease {
  readonly worker: ToolWorker;
  /**
   * Ends the call's use of the worker, saying how the call went. A worker
   * whose call succeeded may be kept for a later call with the same reuse
   * key; returns whether it was. If not, the caller stops it.
   */
  end(how: CallEnd): boolean;
}

interface Idle {
  worker: ToolWorker;
  /** Calls served so far. */
  served: number;
  since: number;
}

/**
 * Lends workers to calls and keeps the ones that may serve again.
 *
 * @example
 * ```ts ignore
 * const pool = new WorkerPool();
 * const lease = pool.take({ moduleUrl, permissions: {} }, "conversation-1");
 * // … run one call on lease.worker …
 * if (!lease.end("succeeded")) lease.worker.stop();
 * ```
 */
export class WorkerPool {
  readonly #specs = new Map<string, SpecWorkers>();
  readonly #options: Required<WorkerPoolOptions>;
  readonly #sweep: ReturnType<typeof setInterval>;
  #refills = 0;
  #refilled = Promise.withResolvers<void>();

  constructor(options: WorkerPoolOptions = {}) {
    this.#options = { maxIdle: 16, idleMs: 30_000, ...options };
    this.#sweep = setInterval(() => this.#trim(), this.#options.idleMs / 2);
    Deno.unrefTimer(this.#sweep);
  }

  /**
   * A worker for one call: an idle one that served `reuseKey` before, else a
   * warm one, else a new one (which throws if it cannot be spawned).
   * Without a `reuseKey` the worker serves this call only.
   */
  take(spec: WorkerSpec, reuseKey?: string): WorkerLease {
    const workers = this.#workersOf(spec);
    const idle = (reuseKey === undefined ? undefined : workers.reusable.get(reuseKey)?.pop()) ??
      workers.warm.pop();
    const worker = idle?.worker ?? ToolWorker.spawn(spec.moduleUrl, spec.permissions);
    const served = idle?.served ?? 0;
    workers.taken();
    this.#refill(spec, workers);
    let ended = false;
    return {
      worker,
      end: (how) => {
        if (ended) return false;
        ended = true;
        workers.returned(how);
        const reusable = how === "succeeded" && reuseKey !== undefined &&
          served + 1 < MAX_CALLS_PER_WORKER && workers.idle < this.#options.maxIdle;
        if (reusable) workers.keep(reuseKey, { worker, served: served + 1, since: 0 });
        return reusable;
      },
    };
  }

  /** A call of this spec is coming (its tool was named): have a warm worker ready. */
  prepare(spec: WorkerSpec): void {
    const workers = this.#workersOf(spec);
    workers.expect();
    this.#refill(spec, workers);
  }

  /** Resolves once no refill is under way: every warm worker wanted has been spawned. */
  refilled(): Promise<void> {
    return this.#refills === 0 ? Promise.resolve() : this.#refilled.promise;
  }

  /** Idle workers held, warm and reusable. */
  get idle(): number {
    return [...this.#specs.values()].reduce((sum, workers) => sum + workers.idle, 0);
  }

  /** Stops every idle worker. */
  close(): void {
    clearInterval(this.#sweep);
    for (const workers of this.#specs.values()) workers.stopIdle(0);
    this.#specs.clear();
  }

  #workersOf(spec: WorkerSpec): SpecWorkers {
    const key = JSON.stringify([spec.moduleUrl, spec.permissions]);
    let workers = this.#specs.get(key);
    if (!workers) this.#specs.set(key, workers = new SpecWorkers(this.#options.idleMs));
    return workers;
  }

  /** Spawns warm workers up to the recent demand, one per macrotask. */
  #refill(spec: WorkerSpec, workers: SpecWorkers): void {
    if (workers.refilling) return;
    workers.refilling = true;
    this.#refills++;
    const next = () => {
      const wanted = Math.min(this.#options.maxIdle, workers.demand) - workers.idle;
      if (wanted <= 0 || workers.failing) {
        workers.refilling = false;
        if (--this.#refills === 0) {
          this.#refilled.resolve();
          this.#refilled = Promise.withResolvers<void>();
        }
        return;
      }
      try {
        workers.keepWarm(ToolWorker.spawn(spec.moduleUrl, spec.permissions));
      } catch {
        workers.failing = true;
      }
      setTimeout(next, 0);
    };
    setTimeout(next, 0);
  }

  #trim(): void {
    for (const [key, workers] of this.#specs) {
      workers.stopIdle(this.#options.idleMs);
      if (workers.empty) this.#specs.delete(key);
    }
  }
}

/** The workers of one spec, and its recent demand. */
class SpecWorkers {
  readonly warm: Idle[] = [];
  readonly reusable = new Map<string, Idle[]>();
  refilling = false;
  /** A warm worker crashed (its module does not load): none is spawned ahead until a call succeeds. */
  failing = false;
  #inUse = 0;
  #expected = 0;
  #peak = 0;
  #peakAt = 0;
  readonly #windowMs: number;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** The most workers wanted at once lately: the size of the next burst, as far as we know. */
  get demand(): number {
    const now = this.#inUse + this.#expected;
    return performance.now() - this.#peakAt > this.#windowMs ? now : Math.max(now, this.#peak);
  }

  get idle(): number {
    let count = this.warm.length;
    for (const list of this.reusable.values()) count += list.length;
    return count;
  }

  get empty(): boolean {
    return this.idle === 0 && this.#inUse === 0 && this.#expected === 0;
  }

  expect(): void {
    this.#expected++;
    this.#notePeak();
  }

  taken(): void {
    this.#inUse++;
    if (this.#expected > 0) this.#expected--;
    this.#notePeak();
  }

  returned(how: CallEnd): void {
    this.#inUse--;
    if (how !== "failed") this.failing = how === "crashed";
  }

  keepWarm(worker: ToolWorker): void {
    const entry = { worker, served: 0, since: performance.now() };
    this.warm.push(entry);
    this.#park(entry, this.warm, () => this.failing = true);
  }

  keep(reuseKey: string, entry: Idle): void {
    const list = this.reusable.get(reuseKey) ?? [];
    this.reusable.set(reuseKey, list);
    entry.since = performance.now();
    list.push(entry);
    this.#park(entry, list);
  }

  /** Stops the idle workers unused for `ms` or longer. */
  stopIdle(ms: number): void {
    const now = performance.now();
    for (const [key, list] of [["", this.warm] as const, ...this.reusable]) {
      for (const entry of list.filter((entry) => now - entry.since >= ms)) {
        list.splice(list.indexOf(entry), 1);
        entry.worker.stop();
      }
      if (list.length === 0 && list !== this.warm) this.reusable.delete(key);
    }
  }

  /** An idle worker has no call to report to: any message or crash ends it. */
  #park(entry: Idle, list: Idle[], onCrash?: () => void): void {
    const end = () => {
      const at = list.indexOf(entry);
      if (at >= 0) list.splice(at, 1);
      entry.worker.stop();
    };
    entry.worker.onMessage = end;
    entry.worker.onCrash = () => {
      end();
      onCrash?.();
    };
  }

  #notePeak(): void {
    const now = this.#inUse + this.#expected;
    if (now >= this.#peak || performance.now() - this.#peakAt > this.#windowMs) {
      this.#peak = now;
      this.#peakAt = performance.now();
    }
  }
}
