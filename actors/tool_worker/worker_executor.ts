/**
 * The executor without tool hosts: each call's Web Worker runs in this
 * process. The fallback where subprocesses cannot be started (Deno Deploy).
 *
 * @module
 */
import type {
  Isolation,
  ToolCallOutcome,
  ToolCallRequest,
  ToolExecutor,
} from "../tool_executor.ts";
import { describeTool } from "./describe_tool.ts";
import { spawnToolCall } from "./spawn_tool_call.ts";

/**
 * Runs every call in a fresh Web Worker of this process.
 *
 * @example
 * ```ts ignore
 * await using executor = new WorkerExecutor();
 * const outcome = await executor.run(request);
 * ```
 */
export class WorkerExecutor implements ToolExecutor {
  readonly isolation: Isolation = "worker";

  run(request: ToolCallRequest): Promise<ToolCallOutcome> {
    return spawnToolCall(request);
  }

  describe(moduleUrl: string): Promise<unknown> {
    return describeTool(moduleUrl);
  }

  async [Symbol.asyncDispose](): Promise<void> {}
}
