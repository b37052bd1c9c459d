/**
 * Reads a tool module's metadata inside a worker with no permissions, so
 * that no tool code runs in the supervisor's isolate, not even at load time.
 *
 * @module
 */
import { errorMessage } from "../../src/_error_message.ts";
import type { ToolDescription } from "./protocol.ts";
import { ToolWorker } from "./tool_worker.ts";

/** How long a tool module may take to load and describe itself. */
export const DESCRIBE_TIMEOUT_MS = 30_000;

/**
 * Resolves with what the module at `moduleUrl` says of its tool (not yet
 * validated), or rejects with a message naming what went wrong.
 *
 * @example
 * ```ts ignore
 * const description = await describeTool("file:///app/tools/current_time.ts");
 * console.log(description.name);
 * ```
 */
export function describeTool(moduleUrl: string, timeoutMs = DESCRIBE_TIMEOUT_MS): Promise<unknown> {
  const { promise, resolve, reject } = Promise.withResolvers<ToolDescription>();
  let worker: ToolWorker;
  try {
    worker = ToolWorker.spawn(moduleUrl, {});
  } catch (error) {
    return Promise.reject(new Error(errorMessage(error)));
  }
  const timer = setTimeout(
    () => reject(new Error(`loading took longer than ${timeoutMs} ms`)),
    timeoutMs,
  );
  const id = worker.open({
    onMessage: (message) => {
      if (message.type === "description") resolve(message.tool);
    },
    onCrash: (message) => reject(new Error(message)),
  });
  worker.send(id, { type: "describe" });
  return promise.finally(() => {
    clearTimeout(timer);
    worker.stop();
  });
}
