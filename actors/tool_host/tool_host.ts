/**
 * The runtime's handle on one tool host: a `deno` subprocess, a failure
 * domain of its own, that runs calls in Web Workers and answers over a
 * private Unix socket. When it dies, only its calls fail.
 *
 * @module
 */
import { join } from "node:path";
import { errorMessage } from "../../src/_error_message.ts";
import type { CallPreview, ToolCallOutcome, ToolCallRequest } from "../tool_executor.ts";
import { DESCRIBE_TIMEOUT_MS } from "../tool_worker/describe_tool.ts";
import { CALL_START_TIMEOUT_MS, STOP_GRACE_MS, timedOut } from "../tool_worker/spawn_tool_call.ts";
import { hostCommand, type HostProfile } from "./_host_command.ts";
import { busiestThreadMs, processStats, threadCpuMs } from "./_process_stats.ts";
import { chunksOf, FrameWriter, type FromHost, readFrames, type ToHost } from "./protocol.ts";

/** How long a host may take to start and connect (a cold module cache compiles first). */
const START_TIMEOUT_MS = 60_000;
/**
 * How late a host's outcome may be before the runtime ends the call itself.
 * A host's thread can stall for seconds on a busy machine (other calls of it
 * thrashing memory); the call's deadline must hold all the same.
 */
const RESPONSE_GRACE_MS = 1_000;
const WATCH_MS = 500;
/** CPU used while no call runs, per watch interval, that marks a thread left spinning. */
const IDLE_CPU_MS = WATCH_MS / 2;
/** Memory a host may hold beyond its calls' heaps (its own isolate, buffers). */
const HOST_BASE_MB = 256;
const STDERR_TAIL = 4096;

interface Pending {
  request: ToolCallRequest;
  started: number;
  resolve: (outcome: ToolCallOutcome) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Describing {
  resolve: (tool: unknown) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * A running tool host.
 *
 * @example
 * ```ts ignore
 * const host = await ToolHost.start({ permissions: {}, memoryMb: 256, moduleDirs: ["/app/tools"] });
 * const outcome = await host.run(request);
 * host.kill("done");
 * ```
 */
export class ToolHost {
  readonly profile: HostProfile;
  /** Settles when the process has exited and every call in it has its outcome. */
  readonly exited: Promise<void>;
  #child: Deno.ChildProcess;
  #connection: Deno.UnixConn;
  #frames: FrameWriter;
  #calls = new Map<number, Pending>();
  #describing = new Map<number, Describing>();
  /** Calls reported timed out or cancelled, whose result may still come late. */
  #lateCalls = new Map<number, ToolCallRequest>();
  #nextId = 1;
  #retired = false;
  #killReason: string | undefined;
  /** The last few KiB the process wrote to stderr. */
  #stderr: () => string;
  #watch: ReturnType<typeof setInterval>;
  /** Each thread's CPU time at the last watch, taken only while no call ran. */
  #idleThreadCpu: Map<number, number> | undefined;
  #idleSince = performance.now();

  private constructor(
    profile: HostProfile,
    child: Deno.ChildProcess,
    connection: Deno.UnixConn,
    frames: AsyncGenerator<unknown[]>,
    stderr: () => string,
  ) {
    this.profile = profile;
    this.#child = child;
    this.#stderr = stderr;
    this.#connection = connection;
    this.#frames = new FrameWriter(connection);
    this.#watch = setInterval(() => this.#checkUsage(), WATCH_MS);
    Deno.unrefTimer(this.#watch);
    this.exited = Promise.all([this.#read(frames), this.#child.status]).then(([, status]) =>
      this.#onExit(status)
    );
    // An idle host must not keep the runtime's process alive; a busy one does (see #calls).
    connection.unref();
    child.unref();
  }

  /** Starts a host and waits until it is connected and ready. */
  static async start(profile: HostProfile): Promise<ToolHost> {
    const dir = await Deno.makeTempDir({ prefix: "agent-tool-host-" });
    const socketPath = join(dir, "host.sock");
    const listener = Deno.listen({ transport: "unix", path: socketPath });
    const { command, args, env } = hostCommand(profile, socketPath);
    const child = new Deno.Command(command, {
      args,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      detached: true, // its own process group: a Ctrl-C in the terminal is the runtime's to handle
    }).spawn();
    const stderr = readTail(child.stderr);
    try {
      const connection = await connectOrFail(listener, child, stderr);
      const frames = readFrames(chunksOf(connection));
      // The host says it is ready before it can be sent anything: its first frame comes alone.
      const [ready] = ((await frames.next()).value ?? []) as FromHost[];
      if (ready?.type !== "ready") throw new Error("the host did not say it was ready");
      return new ToolHost(profile, child, connection, frames, stderr);
    } catch (error) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone already */ }
      throw error;
    } finally {
      listener.close(); // one connection only: nothing else may reach this host's runtime
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  /** The host's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Calls (and module loads) in flight. */
  get live(): number {
    return this.#calls.size + this.#describing.size;
  }

  /** Whether the host takes new calls. */
  get accepting(): boolean {
    return !this.#retired && this.#killReason === undefined;
  }

  /** Milliseconds since the last call ended, 0 while any runs. */
  get idleMs(): number {
    return this.live > 0 ? 0 : performance.now() - this.#idleSince;
  }

  /** Runs one call in the host. Never rejects. */
  run(request: ToolCallRequest): Promise<ToolCallOutcome> {
    if (request.signal?.aborted) {
      // Cancelled while it waited for this host to start.
      return Promise.resolve({
        status: "cancelled",
        content: "Cancelled before the tool started.",
        ms: 0,
      });
    }
    const id = this.#nextId++;
    const started = performance.now();
    const { promise, resolve } = Promise.withResolvers<ToolCallOutcome>();
    const { signal, onStarted: _s, onProgress: _p, onHandOff: _h, onLateResult: _l, ...call } =
      request;
    const timer = this.#deadline(id, request.timeoutMs, CALL_START_TIMEOUT_MS);
    this.#calls.set(id, { request, started, resolve, timer });
    this.#liveChanged();
    const onAbort = () => this.#send({ type: "cancel", id });
    signal?.addEventListener("abort", onAbort, { once: true });
    this.#send({ type: "run", id, call });
    return promise.finally(() => signal?.removeEventListener("abort", onAbort));
  }

  /**
   * The host keeps the time; this holds the deadline when the host answers
   * late or never.
   */
  #deadline(id: number, timeoutMs: number, startMs = 0): ReturnType<typeof setTimeout> {
    return setTimeout(() => {
      this.#send({ type: "cancel", id }); // the host may not have stopped it
      this.#settle(id, timedOut(timeoutMs));
    }, startMs + timeoutMs + STOP_GRACE_MS + RESPONSE_GRACE_MS);
  }

  /** Has a worker ready in the host for a call about to come. */
  prepare({ moduleUrl, permissions, reuse }: CallPreview): void {
    this.#send({ type: "prepare", spec: { moduleUrl, permissions }, reuse });
  }

  /** What the module at `moduleUrl` says of its tool, read in a worker of this host. */
  describe(moduleUrl: string): Promise<unknown> {
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<unknown>();
    // The host's own clock rejects first; this catches a host stuck in a module's top level.
    const timer = setTimeout(
      () => this.kill(`loading took longer than ${DESCRIBE_TIMEOUT_MS} ms`),
      DESCRIBE_TIMEOUT_MS + RESPONSE_GRACE_MS,
    );
    this.#describing.set(id, { resolve, reject, timer });
    this.#liveChanged();
    this.#send({ type: "describe", id, moduleUrl });
    return promise;
  }

  /** Takes no new calls; the process ends once its calls have (and a late result had its grace). */
  retire(): void {
    this.#retired = true;
    this.#endIfRetired();
  }

  /** The connection keeps the runtime alive only while the host has work. */
  #liveChanged(): void {
    if (this.live > 0) return this.#connection.ref();
    this.#idleSince = performance.now();
    this.#connection.unref();
  }

  #endIfRetired(): void {
    if (!this.#retired || this.live > 0) return;
    const wait = this.#lateCalls.size > 0 ? STOP_GRACE_MS + RESPONSE_GRACE_MS : 0;
    setTimeout(() => this.kill("it was retired"), wait);
  }

  /** Ends the process at once; its calls fail with `reason`. */
  kill(reason: string): void {
    this.#killReason ??= reason;
    clearInterval(this.#watch);
    this.#child.ref(); // whoever awaits `exited` keeps the process alive until it has
    try {
      this.#child.kill("SIGKILL");
    } catch { /* exited already */ }
  }

  #send(message: ToHost): void {
    this.#frames.send(message);
  }

  async #read(frames: AsyncGenerator<unknown[]>): Promise<void> {
    try {
      for await (const messages of frames) {
        messages.forEach((message) => this.#receive(message as FromHost));
      }
    } catch (error) {
      this.kill(`it broke the protocol (${errorMessage(error)})`);
    }
  }

  #receive(message: FromHost): void {
    if (message.type === "late" || (message.type === "outcome" && !this.#calls.has(message.id))) {
      return this.#lateOutcome(message.id, message.outcome);
    }
    if (message.type === "ready") return;
    if (message.type === "described") return this.#described(message);
    const pending = this.#calls.get(message.id);
    if (!pending) return;
    if (message.type === "started") {
      clearTimeout(pending.timer);
      pending.timer = this.#deadline(message.id, pending.request.timeoutMs);
      pending.request.onStarted?.();
    } else if (message.type === "progress") pending.request.onProgress?.(message.text);
    else if (message.type === "handed_off") pending.request.onHandOff?.();
    else if (message.type === "outcome") this.#settle(message.id, message.outcome);
  }

  /** An outcome of a call already ended here: a result reaches the model as a late one. */
  #lateOutcome(id: number, outcome: ToolCallOutcome): void {
    const request = this.#lateCalls.get(id);
    if (!request || outcome.status === "timed_out" || outcome.status === "cancelled") return;
    this.#lateCalls.delete(id);
    request.onLateResult?.(outcome);
  }

  #settle(id: number, outcome: ToolCallOutcome): void {
    const pending = this.#calls.get(id);
    if (!pending) return;
    this.#calls.delete(id);
    clearTimeout(pending.timer);
    this.#liveChanged();
    if (outcome.status === "timed_out" || outcome.status === "cancelled") {
      // Its worker may be stuck in a loop that terminate() cannot end: the host goes with it.
      this.#lateCalls.set(id, pending.request);
      this.#retired = true;
    }
    this.#endIfRetired();
    pending.resolve({ ...outcome, ms: performance.now() - pending.started });
  }

  #described({ id, tool, error }: Extract<FromHost, { type: "described" }>): void {
    const describing = this.#describing.get(id);
    if (!describing) return;
    this.#describing.delete(id);
    clearTimeout(describing.timer);
    this.#liveChanged();
    this.#endIfRetired();
    if (error === undefined) describing.resolve(tool);
    else describing.reject(new Error(error));
  }

  #onExit(status: Deno.CommandStatus): void {
    clearInterval(this.#watch);
    const stopped = this.#whyStopped(status);
    for (const id of [...this.#calls.keys()]) {
      const content = stopped === OUT_OF_MEMORY
        ? `The tool host running this call ran out of memory (the limit is ${this.profile.memoryMb} MiB per call) and was stopped: this call, or another call in the same host, used too much memory.`
        : `The tool host running this call stopped: ${stopped}.`;
      this.#settle(id, { status: "failed", content, ms: 0 });
    }
    const loadError = stopped === OUT_OF_MEMORY
      ? `loading it ran out of memory (the limit is ${this.profile.memoryMb} MiB)`
      : `the tool host loading it stopped: ${stopped}`;
    for (const id of [...this.#describing.keys()]) {
      this.#described({ type: "described", id, error: loadError });
    }
    this.#lateCalls.clear();
  }

  /** {@linkcode OUT_OF_MEMORY}, or how the process ended and the last line it wrote. */
  #whyStopped(status: Deno.CommandStatus): string {
    const outOfMemory = this.#killReason === OUT_OF_MEMORY || status.signal === "SIGTRAP" ||
      /out of memory/i.test(this.#stderr());
    if (outOfMemory) return OUT_OF_MEMORY;
    const how = this.#killReason ??
      (status.signal ? `it was killed by ${status.signal}` : `it exited with code ${status.code}`);
    const said = this.#stderr().trim().split("\n").at(-1);
    return `${how}${said ? ` (it said: ${said})` : ""}`;
  }

  #checkUsage(): void {
    const stats = processStats(this.#child.pid);
    if (!stats) return;
    const limitMb = HOST_BASE_MB + 2 * this.profile.memoryMb * Math.max(1, this.live);
    if (stats.rssBytes > limitMb * 1024 * 1024) this.kill(OUT_OF_MEMORY);
    else if (this.#threadSpinsIdle()) this.kill("a thread of an ended call was still running");
  }

  /**
   * Whether a worker thread used more than {@linkcode IDLE_CPU_MS} since the
   * last watch while no call ran. Counted per thread, and never the host's
   * main thread: the host spawns warm workers while idle (~20 ms of CPU
   * each), and a refill of ten counted as one spinning thread.
   */
  #threadSpinsIdle(): boolean {
    const pid = this.#child.pid;
    const before = this.#idleThreadCpu;
    const now = this.#idleThreadCpu = this.live === 0 ? threadCpuMs(pid) : undefined;
    if (!before || !now || this.idleMs <= WATCH_MS) return false;
    return busiestThreadMs(before, now, pid) > IDLE_CPU_MS;
  }
}

const OUT_OF_MEMORY = "it ran out of memory";

/** Accepts the host's connection, or fails with what the host said if it exits first. */
async function connectOrFail(
  listener: Deno.Listener<Deno.UnixConn>,
  child: Deno.ChildProcess,
  stderr: () => string,
): Promise<Deno.UnixConn> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const failed = Promise.race([
    child.status.then((status) =>
      `it exited with code ${status.code}${stderr() ? `: ${stderr().trim()}` : ""}`
    ),
    new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve(`it did not connect within ${START_TIMEOUT_MS} ms`),
        START_TIMEOUT_MS,
      );
    }),
  ]).then((why) => Promise.reject(new Error(`The tool host could not be started: ${why}`)));
  try {
    return await Promise.race([listener.accept(), failed]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads `stream` to its end in the background; the result gives its last few KiB so far. */
function readTail(stream: ReadableStream<Uint8Array>): () => string {
  let text = "";
  (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text = (text + chunk).slice(-STDERR_TAIL);
    }
  })().catch(() => {});
  return () => text;
}
