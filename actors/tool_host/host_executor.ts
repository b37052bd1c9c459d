/**
 * The default executor: calls run in tool host processes, one group of
 * hosts per profile (permissions and memory limit), so a host holds only
 * the permissions of the tools it runs.
 *
 * @module
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { errorMessage } from "../../src/_error_message.ts";
import type {
  CallPreview,
  Isolation,
  ToolCallOutcome,
  ToolCallRequest,
  ToolExecutor,
} from "../tool_executor.ts";
import { DEFAULT_LIMITS } from "../../src/tool_limits.ts";
import type { HostProfile } from "./_host_command.ts";
import { ToolHost } from "./tool_host.ts";

/** How a {@linkcode HostExecutor} sizes its groups of hosts. */
export interface HostExecutorOptions {
  /** Most hosts per profile; default: the number of cores, so worker start-ups spread over them. */
  maxHostsPerProfile?: number;
  /**
   * Calls a host runs before another host of its profile is started, default 4;
   * times the calls a reused worker serves at once, since such calls start no
   * worker, the work that more hosts spread over the cores.
   */
  spreadAt?: number;
  /** An idle host beyond the first of its profile is stopped after this long. Default 60 s. */
  idleMs?: number;
}

/**
 * Runs each call in a Web Worker inside a tool host process.
 *
 * @example
 * ```ts ignore
 * await using executor = new HostExecutor();
 * const outcome = await executor.run(request);
 * ```
 */
export class HostExecutor implements ToolExecutor {
  readonly isolation: Isolation = "process";
  readonly #pools = new Map<string, HostPool>();
  readonly #options: Required<HostExecutorOptions>;
  readonly #sweep: ReturnType<typeof setInterval>;

  constructor(options: HostExecutorOptions = {}) {
    this.#options = {
      maxHostsPerProfile: Math.max(1, navigator.hardwareConcurrency ?? 1),
      spreadAt: 4,
      idleMs: 60_000,
      ...options,
    };
    this.#sweep = setInterval(() => this.#releaseIdle(), 5_000);
    Deno.unrefTimer(this.#sweep);
  }

  run(request: ToolCallRequest): Promise<ToolCallOutcome> {
    return this.#pool(profileOf(request), request.isolationKey).run(request);
  }

  prepare(preview: CallPreview): void {
    this.#pool(profileOf(preview), preview.isolationKey).prepare(preview);
  }

  /**
   * Loads a tool module in a host with no permissions, of its own: a module
   * that misbehaves at its top level takes down only that host.
   */
  async describe(moduleUrl: string): Promise<unknown> {
    const profile = profileOf({ moduleUrl, permissions: {}, limits: DEFAULT_LIMITS });
    const pool = this.#pool(profile, LOADING);
    try {
      return await pool.describe(moduleUrl);
    } finally {
      pool.releaseIdle(0); // tools load at start-up, then these hosts have nothing to do
    }
  }

  /** Starts a host for each profile the offered tools need and has none, so their first calls find one warm. */
  offer(tools: CallPreview[]): void {
    for (const tool of tools) this.#pool(profileOf(tool), tool.isolationKey).warm();
  }

  /** How many host processes run calls (not counting the ones that load tools). */
  get hosts(): number {
    return [...this.#pools.values()]
      .filter((pool) => pool.isolationKey !== LOADING)
      .reduce((sum, pool) => sum + pool.size, 0);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#sweep);
    await Promise.all([...this.#pools.values()].map((pool) => pool.close()));
  }

  #pool(profile: HostProfile, isolationKey?: string): HostPool {
    const key = JSON.stringify([profile, isolationKey]);
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new HostPool(profile, this.#options, isolationKey);
      this.#pools.set(key, pool);
    }
    return pool;
  }

  #releaseIdle(): void {
    for (const [key, pool] of this.#pools) {
      pool.releaseIdle();
      if (pool.disposable) this.#pools.delete(key);
    }
  }
}

/** The isolation key of the hosts that load modules: they never run a call. */
const LOADING = "(loading tools)";

function profileOf(request: Pick<ToolCallRequest, "moduleUrl" | "permissions" | "limits">) {
  const moduleDirs = request.moduleUrl.startsWith("file:")
    ? [dirname(fileURLToPath(request.moduleUrl))]
    : [];
  return { permissions: request.permissions, memoryMb: request.limits.memoryMb, moduleDirs };
}

/** The hosts of one profile. */
class HostPool {
  readonly #profile: HostProfile;
  readonly #options: Required<HostExecutorOptions>;
  readonly #hosts: ToolHost[] = [];
  /** Idle hosts kept warm. */
  readonly #keep: number;
  #starting: Promise<ToolHost> | undefined;
  #closed = false;

  constructor(
    profile: HostProfile,
    options: Required<HostExecutorOptions>,
    readonly isolationKey: string | undefined,
  ) {
    this.#profile = profile;
    this.#options = options;
    // A pool of one conversation's own hosts keeps none warm once idle.
    this.#keep = isolationKey === undefined ? 1 : 0;
  }

  /** No host and none wanted: the pool may be forgotten. */
  get disposable(): boolean {
    return this.#keep === 0 && this.#hosts.length === 0 && !this.#starting;
  }

  get size(): number {
    return this.#hosts.length;
  }

  async run(request: ToolCallRequest): Promise<ToolCallOutcome> {
    const started = performance.now();
    try {
      const host = await this.#pick(request.reuse?.concurrency ?? 1);
      return await host.run(request);
    } catch (error) {
      return { status: "failed", content: errorMessage(error), ms: performance.now() - started };
    }
  }

  async describe(moduleUrl: string): Promise<unknown> {
    return (await this.#pick()).describe(moduleUrl);
  }

  /** Warms a worker in the host the next call is likeliest to go to; starts no host. */
  prepare(preview: CallPreview): void {
    this.#leastBusy()?.prepare(preview);
  }

  warm(): void {
    if (this.#hosts.length === 0 && !this.#closed) this.#grow().catch(() => {});
  }

  /** Stops the hosts idle for `ms` or longer, beyond the ones the pool keeps. */
  releaseIdle(ms = this.#options.idleMs): void {
    const idle = this.#hosts.filter((host) =>
      host.accepting && host.live === 0 && host.idleMs >= ms
    );
    const busy = this.#hosts.length - idle.length;
    for (const host of idle.slice(Math.max(0, this.#keep - busy))) host.kill("it was idle");
  }

  async close(): Promise<void> {
    this.#closed = true; // no host starts after this one
    await this.#starting?.catch(() => {}); // a host being started joins #hosts first
    const hosts = [...this.#hosts];
    hosts.forEach((host) => host.kill("the runtime stopped"));
    await Promise.all(hosts.map((host) => host.exited));
  }

  #leastBusy(): ToolHost | undefined {
    return this.#hosts.filter((host) => host.accepting).reduce<ToolHost | undefined>(
      (least, host) => !least || host.live < least.live ? host : least,
      undefined,
    );
  }

  #pick(callsPerWorker = 1): Promise<ToolHost> {
    const best = this.#leastBusy();
    const crowded = !best || best.live >= this.#options.spreadAt * callsPerWorker;
    const open = this.#hosts.filter((host) => host.accepting).length;
    if (crowded && open < this.#options.maxHostsPerProfile) {
      const growing = this.#grow();
      if (!best) return growing;
      growing.catch(() => {}); // the next call tries again
    }
    return Promise.resolve(best!);
  }

  #grow(): Promise<ToolHost> {
    if (this.#closed) return Promise.reject(new Error("The runtime is stopping."));
    this.#starting ??= ToolHost.start(this.#profile).then((host) => {
      this.#hosts.push(host);
      host.exited.then(() => {
        this.#hosts.splice(this.#hosts.indexOf(host), 1);
        // A dead host is replaced before it is needed.
        if (this.#hosts.length === 0 && this.#keep > 0) this.warm();
      });
      return host;
    }).finally(() => this.#starting = undefined);
    return this.#starting;
  }
}
