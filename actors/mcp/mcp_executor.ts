/**
 * Calls of MCP servers' tools. The supervisor sees them as any tool call:
 * the same request, the same outcomes, the same timeouts and cancellation.
 *
 * @module
 */
import { ErrorCode, McpError, type Tool } from "@modelcontextprotocol/sdk/types.js";
import { errorMessage } from "../../src/_error_message.ts";
import { limitResult } from "../../src/limit_result.ts";
import { MCP_SEPARATOR, type McpServers, type McpToolRules } from "../../src/mcp_servers.ts";
import type { CatalogTool } from "../../src/tool_catalog.ts";
import { progressGate } from "../progress_gate.ts";
import type { ToolCallOutcome, ToolCallRequest } from "../tool_executor.ts";
import { McpConnection, McpServerUnavailable } from "./mcp_connection.ts";
import { resultBlocks, resultText } from "./_result_text.ts";
import { blocksBytes, describeBlocks, type ToolResultBlock } from "../../src/tool_result_blocks.ts";

/** Where an MCP tool "is": `mcp://SERVER/TOOL`, its catalog entry's `moduleUrl`. */
const SCHEME = "mcp:";

/**
 * Whether a catalog entry's `moduleUrl` names an MCP server's tool.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isMcpTool } from "./mcp_executor.ts";
 * assertEquals([isMcpTool("mcp://everything/echo"), isMcpTool("file:///tools/echo.ts")], [true, false]);
 * ```
 */
export function isMcpTool(moduleUrl: string): boolean {
  return moduleUrl.startsWith(SCHEME);
}

/**
 * The MCP server whose tool a catalog entry's `moduleUrl` names, if it names one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { mcpServerOf } from "./mcp_executor.ts";
 * assertEquals(mcpServerOf("mcp://everything/echo"), "everything");
 * ```
 */
export function mcpServerOf(moduleUrl: string): string | undefined {
  return isMcpTool(moduleUrl) ? new URL(moduleUrl).host : undefined;
}

/**
 * The sessions with the configured MCP servers, and their tools' calls.
 *
 * @example
 * ```ts ignore
 * await using mcp = new McpExecutor({ memory: { command: "deno", args: ["run", "-A", "npm:@modelcontextprotocol/server-memory"] } });
 * const tools = await mcp.listTools(); // memory__read_graph, memory__create_entities, …
 * ```
 */
export class McpExecutor implements AsyncDisposable {
  readonly #servers = new Map<string, McpConnection>();

  constructor(servers: McpServers) {
    for (const [name, spec] of Object.entries(servers)) {
      this.#servers.set(name, new McpConnection(name, spec));
    }
  }

  /**
   * Every server's tools, as catalog entries named `SERVER__TOOL`. Rejects
   * with a message naming each server that did not start or answer.
   */
  async listTools(): Promise<CatalogTool[]> {
    const listed = await Promise.allSettled(
      [...this.#servers.values()].map(async (server) =>
        offered(server.name, await server.listTools(), server.spec).map((tool) =>
          catalogEntry(server.name, tool, server.spec)
        )
      ),
    );
    const problems = listed.flatMap((result) =>
      result.status === "rejected" ? [messageOf(result.reason)] : []
    );
    if (problems.length > 0) throw new Error(problems.join("\n  "));
    return listed.flatMap((result) => result.status === "fulfilled" ? result.value : []);
  }

  /** Runs one call; never rejects: every failure is an outcome the model can read. */
  async run(request: ToolCallRequest): Promise<ToolCallOutcome> {
    const started = performance.now();
    const outcome = (
      status: ToolCallOutcome["status"],
      content: string,
      blocks?: ToolResultBlock[],
    ): ToolCallOutcome => ({
      status,
      content: limitResult(content, request.limits.resultBytes),
      ...(blocks ? { blocks } : {}),
      ms: performance.now() - started,
    });
    if (request.signal?.aborted) return outcome("cancelled", "Cancelled before the tool started.");
    const url = new URL(request.moduleUrl);
    const server = this.#servers.get(url.host)!;
    const { progressPerSecond, progressBytes } = request.limits;
    const progress = progressGate(progressPerSecond, progressBytes, (text) => {
      request.onProgress?.(text);
    });
    try {
      const result = await server.callTool(
        decodeURIComponent(url.pathname.slice(1)),
        request.input,
        {
          timeoutMs: request.timeoutMs,
          signal: request.signal,
          onProgress: (text) => progress.push(text),
        },
      );
      const status = result.isError ? "failed" : "succeeded";
      const blocks = resultBlocks(result);
      if (blocks && blocksBytes(blocks) > request.limits.resultBytes) {
        return outcome(
          "failed",
          `The MCP tool returned images or documents of ${
            blocksBytes(blocks)
          } bytes, more than the ${request.limits.resultBytes} a result may hold (AGENT_TOOL_RESULT_BYTES): ${
            resultText(result).slice(0, 500)
          }`,
        );
      }
      return outcome(status, blocks ? describeBlocks(blocks) : resultText(result), blocks);
    } catch (error) {
      if (request.signal?.aborted) {
        return outcome("cancelled", "Cancelled before the tool finished; the MCP server was told.");
      }
      if (error instanceof McpError && (error as McpError).code === ErrorCode.RequestTimeout) {
        return outcome(
          "timed_out",
          `The tool timed out after ${request.timeoutMs} ms; the MCP server was told to cancel it.`,
        );
      }
      if (error instanceof McpServerUnavailable) return outcome("failed", error.message);
      const said = error instanceof McpError ? "answered with an error" : "could not be reached";
      return outcome("failed", `The MCP server ${server.name} ${said}: ${errorMessage(error)}`);
    } finally {
      progress.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.#servers.values()].map((server) => server[Symbol.asyncDispose]()));
  }
}

/** The words of `approve` that name tools by the server's hints rather than by name. */
const BY_HINT = ["destructive", "all"];

/**
 * The server's tools the operator lets the model see; an error naming a
 * rule that names no tool of the server (a typo would otherwise offer, or
 * leave unguarded, what the operator meant to keep back).
 */
function offered(server: string, tools: Tool[], rules: McpToolRules): Tool[] {
  const names = new Set(tools.map((tool) => tool.name));
  const named = [
    ...(rules.tools ?? []),
    ...(rules.approve ?? []).filter((n) => !BY_HINT.includes(n)),
  ];
  const unknown = named.filter((name) => !names.has(name));
  if (unknown.length > 0) {
    throw new Error(
      `MCP server ${server} has no tool ${unknown.join(", ")} (it has ${[...names].join(", ")}).`,
    );
  }
  return rules.tools ? tools.filter((tool) => rules.tools!.includes(tool.name)) : tools;
}

/**
 * Whether calls of `tool` wait for a person, by the operator's rules: MCP
 * hints default to a tool that may change the world and destroy data.
 */
function needsApproval({ name, annotations = {} }: Tool, { approve = [] }: McpToolRules): boolean {
  const destructive = annotations.readOnlyHint !== true && annotations.destructiveHint !== false;
  return approve.includes("all") || approve.includes(name) ||
    (approve.includes("destructive") && destructive);
}

function catalogEntry(server: string, tool: Tool, rules: McpToolRules): CatalogTool {
  // Ajv compiles the catalog's schemas as JSON Schema 2020-12, whatever draft a server names.
  const { $schema: _, ...inputSchema } = tool.inputSchema;
  const { title, annotations } = tool;
  return {
    // The Messages API takes letters, digits, _ and - in a tool's name; MCP also allows . and /.
    name: `${server}${MCP_SEPARATOR}${tool.name.replace(/[^a-zA-Z0-9_-]/g, "_")}`,
    description: tool.description || title || `${tool.name} of the MCP server ${server}`,
    inputSchema,
    permissions: {},
    moduleUrl: `${SCHEME}//${server}/${encodeURIComponent(tool.name)}`,
    needsApproval: needsApproval(tool, rules),
    // The server says a repeated call has no further effect: a failed one may be tried again.
    ...(annotations?.idempotentHint === true ? { idempotent: true } : {}),
    ...(title || annotations ? { mcp: { title, annotations } } : {}),
  };
}

/** An unavailable server's message says all; anything else is named by its kind. */
function messageOf(error: unknown): string {
  return error instanceof McpServerUnavailable ? error.message : errorMessage(error);
}
