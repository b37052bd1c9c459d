/**
 * A tool host process: connects back to the runtime over the Unix socket
 * named in its arguments and runs the calls it is sent, each in a Web
 * Worker with only its tool's permissions. It exits when the socket closes,
 * so a host never outlives its runtime.
 *
 * Started by {@linkcode ToolHost.start} as `deno run … host_main.ts SOCKET`,
 * or by a compiled binary as `BINARY tool-host SOCKET`.
 *
 * @module
 */
import { errorMessage } from "../../src/_error_message.ts";
import { describeTool } from "../tool_worker/describe_tool.ts";
import { spawnToolCall } from "../tool_worker/spawn_tool_call.ts";
import { WorkerPool } from "../tool_worker/worker_pool.ts";
import { chunksOf, FrameWriter, type FromHost, readFrames, type ToHost } from "./protocol.ts";

/**
 * Serves calls over the socket at `socketPath` until it closes.
 *
 * @example
 * ```ts ignore
 * await serveToolHost(Deno.args[0]);
 * ```
 */
export async function serveToolHost(socketPath: string): Promise<void> {
  const connection = await Deno.connect({ transport: "unix", path: socketPath });
  const frames = new FrameWriter(connection);
  const send = (message: FromHost) => frames.send(message);
  const host: Host = { calls: new Map(), workers: new WorkerPool(), send };
  send({ type: "ready", pid: Deno.pid });
  for await (const messages of readFrames(chunksOf(connection))) {
    for (const message of messages as ToHost[]) receive(message, host);
  }
}

function receive(message: ToHost, host: Host): void {
  const { send } = host;
  if (message.type === "cancel") host.calls.get(message.id)?.abort();
  else if (message.type === "run") runCall(message, host);
  else if (message.type === "prepare") host.workers.prepare(message.spec, message.reuse);
  else if (message.type === "describe") {
    describeTool(message.moduleUrl).then(
      (tool) => send({ type: "described", id: message.id, tool }),
      (error) => send({ type: "described", id: message.id, error: errorMessage(error) }),
    );
  }
}

/** What the host's calls share: their stop switches, the workers, the way back. */
interface Host {
  calls: Map<number, AbortController>;
  workers: WorkerPool;
  send: (message: FromHost) => void;
}

function runCall({ id, call }: Extract<ToHost, { type: "run" }>, host: Host): void {
  const { calls, send } = host;
  const stop = new AbortController();
  calls.set(id, stop);
  spawnToolCall({
    ...call,
    signal: stop.signal,
    onStarted: () => send({ type: "started", id }),
    onProgress: (text) => send({ type: "progress", id, text }),
    onHandOff: () => send({ type: "handed_off", id }),
    onLateResult: (outcome) => send({ type: "late", id, outcome }),
  }, host.workers).then((outcome) => {
    calls.delete(id);
    send({ type: "outcome", id, outcome });
  });
}

/**
 * The process entry: serves until the socket closes, then exits, whatever
 * its workers still do (a worker left spinning must not keep it alive).
 *
 * @example
 * ```ts ignore
 * await runToolHost(Deno.args[0]); // never returns
 * ```
 */
export async function runToolHost(socketPath: string): Promise<never> {
  try {
    await serveToolHost(socketPath);
    Deno.exit(0);
  } catch (error) {
    console.error(`tool host: ${errorMessage(error)}`);
    Deno.exit(1);
  }
}

if (import.meta.main) await runToolHost(Deno.args[0]);
