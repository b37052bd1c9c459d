/**
 * The executor without tool hosts: each call's Web Worker runs in this
 * process. The fallback where subprocesses cannot be started (Deno Deploy).
 *
 * @module
 */
import type {
  CallPreview,
  Isolation,
  ToolCallOutcome,
  ToolCallRequest,
  ToolExecutor,
} from "../tool_executor.ts";
import { describeTool } from "./describe_tool.ts";
import { spawnToolCall } from "./spawn_tool_call.ts";
import { WorkerPool } from "./worker_pool.ts";

/**
 * Runs every call in a Web Worker of this process, from a pool of warm
 * (and, where the tool allows, reused) workers.
 *
 * @example
 * ```ts ignore
 * await using executor = new WorkerExecutor();
 * const outcome = await executor.run(request);
 * ```
 */
export class WorkerExecutor implements ToolExecutor {
  readonly isolation: Isolation = "worker";
  readonly #workers = new WorkerPool();

  run(request: ToolCallRequest): Promise<ToolCallOutcome> {
    return spawnToolCall(request, this.#workers);
  }

  prepare(preview: CallPreview): void {
    this.#workers.prepare(preview, preview.reuse);
  }

  offer(): void {} // the workers of this process need nothing started ahead

  describe(moduleUrl: string): Promise<unknown> {
    return describeTool(moduleUrl);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#workers.close();
    return Promise.resolve();
  }
}
