/**
 * One executor for every source of tools: calls of MCP servers' tools go to
 * their servers, all others to the executor of tool modules.
 *
 * @module
 */
import { isMcpTool, type McpExecutor } from "./mcp/mcp_executor.ts";
import type {
  CallPreview,
  Isolation,
  ToolCallOutcome,
  ToolCallRequest,
  ToolExecutor,
} from "./tool_executor.ts";

/**
 * Routes each call by where its tool is (`moduleUrl`).
 *
 * @example
 * ```ts ignore
 * await using executor = new RoutingExecutor(new HostExecutor(), new McpExecutor(servers));
 * const outcome = await executor.run(request); // in a tool host, or on an MCP server
 * ```
 */
export class RoutingExecutor implements ToolExecutor {
  constructor(readonly modules: ToolExecutor, readonly mcp: McpExecutor) {}

  get isolation(): Isolation {
    return this.modules.isolation;
  }

  run(request: ToolCallRequest): Promise<ToolCallOutcome> {
    return isMcpTool(request.moduleUrl) ? this.mcp.run(request) : this.modules.run(request);
  }

  prepare(preview: CallPreview): void {
    // An MCP call has no worker to start ahead.
    if (!isMcpTool(preview.moduleUrl)) this.modules.prepare(preview);
  }

  offer(tools: CallPreview[]): void {
    this.modules.offer(tools.filter((tool) => !isMcpTool(tool.moduleUrl)));
  }

  describe(moduleUrl: string): Promise<unknown> {
    return this.modules.describe(moduleUrl);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([this.modules[Symbol.asyncDispose](), this.mcp[Symbol.asyncDispose]()]);
  }
}
