/**
 * One turn's tool calls: all spawned at once, each in its own worker,
 * collected into `tool_result` blocks in the order of the `tool_use` blocks.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import type { ConversationEventInit, ToolCallSummary } from "../../src/events.ts";
import type { ToolCatalog } from "../../src/tool_catalog.ts";
import { spawnToolCall, type ToolCallOutcome } from "../tool_worker/spawn_tool_call.ts";

/** What a batch of tool calls needs from its conversation. */
export interface ToolBatchContext {
  catalog: ToolCatalog;
  /** The tool names this conversation may call. */
  allowed: readonly string[];
  defaultTimeoutMs: number;
  signal: AbortSignal;
  emit: (event: ConversationEventInit) => void;
}

/**
 * Runs every call concurrently and resolves once each has a result, an
 * error, a timeout or a cancellation. Never rejects.
 *
 * @example
 * ```ts ignore
 * const { results } = await runToolCalls(message.content.filter((b) => b.type === "tool_use"), context);
 * history.push({ role: "user", content: results });
 * ```
 */
export async function runToolCalls(
  calls: Anthropic.ToolUseBlock[],
  context: ToolBatchContext,
): Promise<{ results: Anthropic.ToolResultBlockParam[]; summaries: ToolCallSummary[] }> {
  const started = performance.now();
  const outcomes = await Promise.all(calls.map((call) => runOne(call, context)));
  const summaries = calls.map((call, i) => ({
    callId: call.id,
    name: call.name,
    status: outcomes[i].status,
    ms: outcomes[i].ms,
  }));
  context.emit({
    type: "tool_batch_finished",
    count: calls.length,
    wallMs: performance.now() - started,
    summedMs: outcomes.reduce((sum, outcome) => sum + outcome.ms, 0),
  });
  const results = calls.map((call, i): Anthropic.ToolResultBlockParam => ({
    type: "tool_result",
    tool_use_id: call.id,
    content: outcomes[i].content,
    ...(outcomes[i].status === "ok" ? {} : { is_error: true }),
  }));
  return { results, summaries };
}

async function runOne(
  call: Anthropic.ToolUseBlock,
  context: ToolBatchContext,
): Promise<ToolCallOutcome> {
  context.emit({ type: "tool_call_started", callId: call.id, name: call.name, input: call.input });
  const outcome = await execute(call, context);
  context.emit({ type: "tool_call_finished", callId: call.id, name: call.name, ...outcome });
  return outcome;
}

function execute(
  call: Anthropic.ToolUseBlock,
  context: ToolBatchContext,
): Promise<ToolCallOutcome> {
  const tool = context.allowed.includes(call.name) ? context.catalog.get(call.name) : undefined;
  if (!tool) {
    return refused(
      `Unknown tool "${call.name}". Available tools: ${context.allowed.join(", ") || "none"}.`,
    );
  }
  const invalid = context.catalog.checkInput(tool.name, call.input);
  if (invalid) return refused(invalid);
  return spawnToolCall({
    moduleUrl: tool.moduleUrl,
    permissions: tool.permissions,
    callId: call.id,
    input: call.input,
    timeoutMs: tool.timeoutMs ?? context.defaultTimeoutMs,
    signal: context.signal,
    onProgress: (text) =>
      context.emit({ type: "tool_call_progress", callId: call.id, name: call.name, text }),
  });
}

/** A call answered without spawning a worker: `run` is never called. */
function refused(content: string): Promise<ToolCallOutcome> {
  return Promise.resolve({ status: "error", content, ms: 0 });
}
