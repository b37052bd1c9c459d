/**
 * Runs in every tool worker before the tool's module: closes what Deno's
 * permissions leave open to code with no permissions at all. The process
 * boundary of the tool host is the real wall; this keeps a tool from
 * reaching even that far by the easy ways.
 *
 * - signalling its own process (`Deno.kill(Deno.pid, …)` needs no permission);
 * - `Deno.exit()` and `self.close()`, which end the worker without a word;
 * - process-wide state: the working directory, signal handlers;
 * - storage that outlives the call and needs no permission: `caches`,
 *   `Deno.openKv()` without a path;
 * - channels to other calls of the same process: `BroadcastChannel`, and
 *   nested `Worker`s, which would outlive the call's limits;
 * - `Deno[Deno.internal]`, the runtime's internals (raw ops);
 * - flooding the thread that reads the worker's messages: progress beyond
 *   {@linkcode MAX_PROGRESS_PER_SECOND} is dropped here, and long texts are
 *   cut, before they cost the host anything (the host then applies the
 *   tool's own, lower limits).
 *
 * @module
 */
/// <reference lib="deno.worker" />

/** A ceiling over every tool's `limits.progressPerSecond`. */
const MAX_PROGRESS_PER_SECOND = 100;
/** A ceiling over every tool's `limits.progressBytes`, in UTF-16 units. */
const MAX_PROGRESS_CHARS = 65_536;

const ownPid = Deno.pid;
const kill = unread<typeof Deno.kill>(Deno, "kill");
const openKv = Deno.openKv;

/**
 * A property's value, to be read on first use: Deno loads the code behind
 * some of its own (`Deno.kill` cost a fresh worker 2-3 ms of CPU at start)
 * the first time they are read.
 */
function unread<T>(target: object, name: PropertyKey): () => T {
  const { get, value } = Object.getOwnPropertyDescriptor(target, name)!;
  return get ? () => get.call(target) : () => value;
}

function refuse(what: string, why: string): never {
  throw new Deno.errors.NotCapable(`${what} is not allowed in a tool: ${why}.`);
}

function lock(target: object, name: PropertyKey, value: unknown): void {
  Object.defineProperty(target, name, { value, writable: false, configurable: false });
}

lock(Deno, "kill", (pid: number, signal?: Deno.Signal) => {
  if (pid === ownPid) refuse("Signalling the tool's own process", "it hosts other calls");
  return kill()(pid, signal);
});
lock(Deno, "exit", () => refuse("Deno.exit()", "return a result or throw an error instead"));
lock(self, "close", () => refuse("self.close()", "return a result or throw an error instead"));
lock(Deno, "chdir", () => refuse("Deno.chdir()", "the working directory is shared"));
lock(Deno, "addSignalListener", () => refuse("Deno.addSignalListener()", "signals are shared"));
lock(Deno, "openKv", (path?: string) => {
  if (path === undefined) {
    refuse("Deno.openKv() without a path", "give a path the tool has read and write access to");
  }
  return openKv(path);
});
const runtime = Deno as unknown as Record<string | symbol, unknown>;
delete runtime[runtime.internal as symbol];
for (const name of ["caches", "BroadcastChannel", "Worker"]) {
  delete (globalThis as Record<string, unknown>)[name];
}

const post = self.postMessage.bind(self);
let windowStart = 0;
let sentInWindow = 0;
const gatedPost = (message: unknown) => {
  const progress = message as { type?: unknown; id?: unknown; text?: unknown } | null;
  if (progress?.type === "progress" && typeof progress.text === "string") {
    const now = performance.now();
    if (now - windowStart >= 1000) [windowStart, sentInWindow] = [now, 0];
    if (++sentInWindow > MAX_PROGRESS_PER_SECOND) return;
    const text = progress.text.slice(0, MAX_PROGRESS_CHARS);
    return post({ type: "progress", id: progress.id, text });
  }
  post(message);
};
lock(self, "postMessage", gatedPost);
lock(Object.getPrototypeOf(self), "postMessage", gatedPost);
