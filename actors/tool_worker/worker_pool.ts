/**
 * Tool workers kept ready, so that a call does not wait for an isolate to
 * start: warm workers (spawned ahead, never used) and, for tools that allow
 * it, workers shared by later calls of the same tool and reuse key, in turn
 * or, up to the tool's `concurrency`, at once.
 *
 * Refills happen off the caller's path, one worker per macrotask, so that
 * incoming calls never wait behind a burst of `new Worker()`.
 *
 * @module
 */
import type { ToolPermissions } from "../../src/tool.ts";
import type { ReuseTerms } from "../tool_executor.ts";
import { ToolWorker } from "./tool_worker.ts";

/** What a worker is spawned for: one module with one set of permissions. */
export interface WorkerSpec {
  moduleUrl: string;
  permissions: ToolPermissions;
}

/**
 * After a call takes a worker, its tool's warm workers are refilled once its
 * calls have all ended, or after this long if they run on: workers started
 * beside running calls take the cores from them (on 2 cores, refilling ten
 * workers during ten 200 ms calls made the calls end 50-70 ms later).
 */
const REFILL_AFTER_MS = 1_000;
/**
 * How long the work that follows a burst of calls (stopping its spent
 * workers, spawning new ones) waits once they have all ended: the turn they
 * belong to has its own end to reach first. W1 with fresh workers: 229-236
 * ms stopping and refilling at once; 224-226 ms with the stops 50 ms later;
 * 219-220 ms with the refill too. A single call's worker is replaced at
 * once: calls that come one after the other would find none warm.
 */
const AFTER_BURST_MS = 50;
/**
 * A fresh worker whose call succeeded is stopped with its burst's, but no
 * later than this after its own call: its exchange is closed meanwhile, and
 * any message from it stops it at once.
 */
const MAX_LINGER_MS = 100;

/** How a {@linkcode WorkerPool} sizes itself. */
export interface WorkerPoolOptions {
  /** Most idle workers per spec, warm and reusable together. Default 16. */
  maxIdle?: number;
  /** An idle worker unused this long is stopped; demand is remembered as long. Default 30 s. */
  idleMs?: number;
  /**
   * A reused worker that began this many calls is retired, whatever its
   * tool allows, so that state a tool's module leaks lives a bounded time.
   * Default 1,000 (a fresh worker costs ~40 ms of CPU: at 100 that was a
   * third of a reused call's cost).
   */
  maxCallsPerWorker?: number;
}

/** How a call on a leased worker ended: `crashed` means its module did not load or threw uncaught. */
export type CallEnd = "succeeded" | "failed" | "crashed";

/** A worker lent to one call. */
export interface WorkerLease {
  readonly worker: ToolWorker;
  /**
   * Ends the call's use of the worker, saying how the call went. Returns
   * whether the caller must now stop the worker: a worker is kept while its
   * tool allows reuse and every call on it succeeded; a retired one (fresh,
   * spent or in excess) whose last call succeeded is stopped by the pool
   * once the calls beside it have ended (its tear-down would take the cores
   * from them); any other is stopped by the last call that ends on it.
   */
  end(how: CallEnd): boolean;
}

interface Pooled {
  worker: ToolWorker;
  /** Calls begun on it. */
  served: number;
  /** Calls running on it. */
  active: number;
  retired: boolean;
  /** When it last became idle. */
  since: number;
}

/**
 * Lends workers to calls and keeps the ones that may serve again.
 *
 * @example
 * ```ts ignore
 * const pool = new WorkerPool();
 * const lease = pool.take({ moduleUrl, permissions: {} }, { key: "conversation-1", concurrency: 1 });
 * // … run one call on lease.worker …
 * if (lease.end("succeeded")) lease.worker.stop();
 * ```
 */
export class WorkerPool {
  readonly #specs = new Map<string, SpecWorkers>();
  readonly #options: Required<WorkerPoolOptions>;
  readonly #sweep: ReturnType<typeof setInterval>;
  #refills = 0;
  #closed = false;
  #refilled = Promise.withResolvers<void>();

  constructor(options: WorkerPoolOptions = {}) {
    this.#options = { maxIdle: 16, idleMs: 30_000, maxCallsPerWorker: 1000, ...options };
    this.#sweep = setInterval(() => this.#trim(), this.#options.idleMs / 2);
    Deno.unrefTimer(this.#sweep);
  }

  /**
   * A worker for one call: with `reuse`, one its key shares that has room,
   * else a warm one, else a new one (which throws if it cannot be spawned).
   */
  take(spec: WorkerSpec, reuse?: ReuseTerms): WorkerLease {
    const workers = this.#workersOf(spec);
    let pooled = reuse && workers.joinable(reuse);
    if (!pooled) {
      pooled = workers.warm.pop() ??
        workers.adopt(ToolWorker.spawn(spec.moduleUrl, spec.permissions));
      if (reuse) workers.share(reuse.key, pooled);
      this.#refill(spec, workers, REFILL_AFTER_MS); // a call that joins a shared worker needs none
    }
    workers.begin(pooled);
    let ended = false;
    return {
      worker: pooled.worker,
      end: (how) => {
        if (ended) return false;
        ended = true;
        const stop = workers.end(pooled, how, !reuse);
        if (workers.busy === 0) {
          workers.stopLingering(AFTER_BURST_MS);
          this.#refill(spec, workers, workers.demand > 1 ? AFTER_BURST_MS : 0);
        }
        return stop;
      },
    };
  }

  /** A call of this spec is coming (its tool was named): have a warm worker ready. */
  prepare(spec: WorkerSpec, reuse?: ReuseTerms): void {
    const workers = this.#workersOf(spec);
    if (reuse && workers.joinable(reuse)) return; // the call will join a shared worker
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

  /** Stops every idle worker, and the refills to come. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const workers of this.#specs.values()) {
      if (workers.refill) this.#refillDone(workers);
      workers.stopIdle(0);
      workers.stopLingeringNow();
    }
    this.#specs.clear();
  }

  #workersOf(spec: WorkerSpec): SpecWorkers {
    const key = JSON.stringify([spec.moduleUrl, spec.permissions]);
    let workers = this.#specs.get(key);
    if (!workers) this.#specs.set(key, workers = new SpecWorkers(this.#options));
    return workers;
  }

  /**
   * Spawns warm workers up to what the spec wants idle, one per macrotask, from
   * `afterMs` on; a refill asked for sooner than one waiting starts sooner.
   */
  #refill(spec: WorkerSpec, workers: SpecWorkers, afterMs = 0): void {
    if (this.#closed) return; // a call that ends after the pool closed leaves no worker behind
    const at = performance.now() + afterMs;
    if (workers.refill) {
      if (workers.refill.started || workers.refill.at <= at) return;
      clearTimeout(workers.refill.timer);
    } else this.#refills++;
    const refill: Refill = { at, started: false, timer: undefined };
    workers.refill = refill;
    const next = () => {
      refill.started = true;
      const wanted = Math.min(this.#options.maxIdle, workers.wantedIdle) - workers.idle;
      if (wanted <= 0 || workers.failing) return this.#refillDone(workers);
      try {
        const worker = ToolWorker.spawn(spec.moduleUrl, spec.permissions);
        workers.warm.push(workers.adopt(worker));
        worker.warmUp();
      } catch {
        workers.failing = true;
      }
      refill.timer = setTimeout(next, 0);
    };
    refill.timer = setTimeout(next, afterMs);
  }

  #refillDone(workers: SpecWorkers): void {
    clearTimeout(workers.refill?.timer);
    workers.refill = undefined;
    if (--this.#refills > 0) return;
    this.#refilled.resolve();
    this.#refilled = Promise.withResolvers<void>();
  }

  #trim(): void {
    for (const [key, workers] of this.#specs) {
      workers.stopIdle(this.#options.idleMs);
      if (workers.empty) this.#specs.delete(key);
    }
  }
}

/** A refill of one spec's warm workers, waiting for its time or under way. */
interface Refill {
  at: number;
  started: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** The workers of one spec, and its recent demand (workers busy at once). */
class SpecWorkers {
  readonly warm: Pooled[] = [];
  readonly #shared = new Map<string, Pooled[]>();
  /** Spent fresh workers waiting to be stopped, and when they will be. */
  readonly #lingering: ToolWorker[] = [];
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  #lingerAt = 0;
  refill: Refill | undefined;
  /** Its module does not load: no worker is spawned ahead until a call succeeds. */
  failing = false;
  #busy = 0;
  #expected = 0;
  #peak = 0;
  #peakAt = 0;
  readonly #options: Required<WorkerPoolOptions>;

  constructor(options: Required<WorkerPoolOptions>) {
    this.#options = options;
  }

  get demand(): number {
    const now = this.#busy + this.#expected;
    return this.#peakIsOld ? now : Math.max(now, this.#peak);
  }

  /**
   * How many idle workers to hold: the recent demand, so that a burst of
   * calls that each need a worker finds them warm; but where calls share
   * workers, at most one per reuse key in use, for a key needs a new worker
   * only as one of its own fills up or retires. (Sized by demand, W2's
   * reused tool kept three warm workers beside its two busy ones, 16-20 MB.)
   */
  get wantedIdle(): number {
    return this.#shared.size > 0 ? Math.min(this.demand, this.#shared.size) : this.demand;
  }

  /** Workers running calls. */
  get busy(): number {
    return this.#busy;
  }

  get idle(): number {
    let count = this.warm.length;
    for (const list of this.#shared.values()) count += list.filter((p) => p.active === 0).length;
    return count;
  }

  get empty(): boolean {
    return this.warm.length === 0 && this.#shared.size === 0 && this.#busy === 0 &&
      this.#expected === 0 && this.#lingering.length === 0;
  }

  /** A new worker; while idle, any message or crash ends it (it has no call to report to). */
  adopt(worker: ToolWorker): Pooled {
    const pooled: Pooled = {
      worker,
      served: 0,
      active: 0,
      retired: false,
      since: performance.now(),
    };
    worker.onStray = () => {
      if (pooled.served === 0) this.failing = true;
      this.#retire(pooled);
      worker.stop();
    };
    return pooled;
  }

  joinable({ key, concurrency }: ReuseTerms): Pooled | undefined {
    return this.#shared.get(key)?.find((p) =>
      p.active < concurrency && p.served < this.#options.maxCallsPerWorker
    );
  }

  share(key: string, pooled: Pooled): void {
    const list = this.#shared.get(key) ?? [];
    this.#shared.set(key, list);
    list.push(pooled);
  }

  expect(): void {
    this.#expected++;
    this.#notePeak();
  }

  begin(pooled: Pooled): void {
    pooled.served++;
    if (pooled.active++ === 0) this.#busy++;
    if (this.#expected > 0) this.#expected--;
    this.#notePeak();
  }

  /** Whether the worker must be stopped now (see {@linkcode WorkerLease.end}). */
  end(pooled: Pooled, how: CallEnd, once: boolean): boolean {
    if (how === "crashed") this.failing = true;
    else if (how === "succeeded") this.failing = false;
    if (--pooled.active === 0) {
      this.#busy--;
      pooled.since = performance.now();
    }
    const spent = pooled.served >= this.#options.maxCallsPerWorker;
    const tooMany = pooled.active === 0 && this.idle > this.#options.maxIdle;
    if (once || how !== "succeeded" || spent || tooMany) {
      this.#retire(pooled);
    }
    if (!pooled.retired || pooled.active > 0) return false;
    if (how !== "succeeded") return true; // the caller stops it, after a grace if it must
    this.#linger(pooled.worker);
    return false;
  }

  /** Stops the lingering workers within `ms`, unless they are due sooner. */
  stopLingering(ms: number): void {
    const at = performance.now() + ms;
    if (this.#lingering.length === 0 || (this.#lingerTimer && this.#lingerAt <= at)) return;
    clearTimeout(this.#lingerTimer);
    this.#lingerAt = at;
    this.#lingerTimer = setTimeout(() => this.stopLingeringNow(), ms);
  }

  /** Stops the lingering workers at once. */
  stopLingeringNow(): void {
    clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    for (const worker of this.#lingering.splice(0)) worker.stop();
  }

  /**
   * Holds a spent worker, to be stopped with its burst's or after
   * {@linkcode MAX_LINGER_MS}; at once beyond `maxIdle` of them, so that
   * under load the isolates alive stay bounded by the calls running.
   */
  #linger(worker: ToolWorker): void {
    if (this.#lingering.length >= this.#options.maxIdle) return worker.stop();
    this.#lingering.push(worker);
    this.stopLingering(MAX_LINGER_MS);
  }

  /** Stops the idle workers unused for `ms` or longer. */
  stopIdle(ms: number): void {
    const now = performance.now();
    const old = (p: Pooled) => p.active === 0 && now - p.since >= ms;
    for (const pooled of [...this.warm, ...[...this.#shared.values()].flat()].filter(old)) {
      this.#retire(pooled);
      pooled.worker.stop();
    }
  }

  #retire(pooled: Pooled): void {
    pooled.retired = true;
    const at = this.warm.indexOf(pooled);
    if (at >= 0) this.warm.splice(at, 1);
    for (const [key, list] of this.#shared) {
      const i = list.indexOf(pooled);
      if (i < 0) continue;
      list.splice(i, 1);
      if (list.length === 0) this.#shared.delete(key);
    }
  }

  get #peakIsOld(): boolean {
    return performance.now() - this.#peakAt > this.#options.idleMs;
  }

  #notePeak(): void {
    const now = this.#busy + this.#expected;
    if (now >= this.#peak || this.#peakIsOld) {
      this.#peak = now;
      this.#peakAt = performance.now();
    }
  }
}
