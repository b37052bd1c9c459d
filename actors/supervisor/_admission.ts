/**
 * Admission of a batch's calls: whether each can run at all (a known tool,
 * valid input, a closed breaker), and when (room under its tool's limits,
 * then a worker slot).
 *
 * @module
 */
import type { CallRecord } from "../../src/journal/records.ts";
import type { CatalogTool } from "../../src/tool_catalog.ts";
import { QueueFull, type Slot } from "../call_slots.ts";
import { priorityOf } from "../scheduler/call_policies.ts";
import type { GateRelease } from "../scheduler/tool_gates.ts";
import { isRefusal, type Refusal, refusal, type ToolBatchContext } from "./tool_batch.ts";
import { needsDecision } from "./approval_desk.ts";
import { isMcpTool } from "../mcp/mcp_executor.ts";

/** An MCP call runs in its server's process, not in a worker of ours: it takes no worker slot. */
const NO_WORKER: Slot = { release() {} };

/** What a running call holds: a place under its tool's limits, and a worker slot. */
export interface Hold {
  gate: GateRelease;
  slot: Slot;
}

/** A call as the batch admits it: its tool or why it cannot run, and what it could take at once. */
export interface Admitted {
  call: CallRecord;
  tool: CatalogTool | Refusal;
  gate?: GateRelease;
  slot?: Slot;
}

/** Admits a call without waiting: what it can take now, it takes. */
export function admit(call: CallRecord, context: ToolBatchContext): Admitted {
  const resolved = resolveTool(call, context);
  const open = isRefusal(resolved) ? undefined : context.policies.breakers.admit(resolved.name);
  const tool = open === undefined ? resolved : refusal(open);
  // A call awaiting approval takes nothing: it may wait for hours.
  if (isRefusal(tool) || needsDecision(call, tool)) return { call, tool };
  const gate = context.policies.gates.tryEnter(tool.name, tool);
  const slot = gate && (isMcpTool(tool.moduleUrl) ? NO_WORKER : context.slots.tryAcquire());
  return { call, tool, gate, slot };
}

/** The tool to run, or why there is none. */
function resolveTool(call: CallRecord, context: ToolBatchContext): CatalogTool | Refusal {
  const tool = context.allowed.includes(call.name) ? context.catalog.get(call.name) : undefined;
  if (!tool) {
    return refusal(
      `Unknown tool "${call.name}". Available tools: ${context.allowed.join(", ") || "none"}.`,
    );
  }
  const invalid = context.catalog.checkInput(tool.name, call.input);
  return invalid === undefined ? tool : refusal(invalid);
}

/**
 * Waits, as `queued`, for what the call could not take at once: room under
 * its tool's limits, then a worker slot. Or says why it gets none: the turn
 * was cancelled, or the line is full.
 */
export async function waitForHold(
  { call, gate }: Admitted,
  tool: CatalogTool,
  context: ToolBatchContext,
): Promise<Hold | Refusal> {
  const { callId, name, input } = call;
  const waitingFor = gate ? "worker" : "tool_limit";
  const priority = priorityOf(tool);
  context.emit({ type: "tool_call_queued", callId, name, input, waitingFor, priority });
  try {
    gate ??= await context.policies.gates.enter(tool.name, tool, context.signal);
  } catch {
    return refusal(`Cancelled while waiting for ${tool.name}'s limit on calls.`);
  }
  if (isMcpTool(tool.moduleUrl)) return { gate, slot: NO_WORKER };
  try {
    const { conversationId, signal } = context;
    return { gate, slot: await context.slots.acquire(conversationId, { priority, signal }) };
  } catch (error) {
    gate();
    if (error instanceof QueueFull) {
      return refusal(
        `The runtime is at capacity (${context.slots.queued} tool calls are waiting for a worker), so this call was not run. Try again later, or with fewer calls at once.`,
      );
    }
    return refusal("Cancelled while waiting for a worker.");
  }
}

/** Gives back what a call held. */
export function releaseHold({ gate, slot }: Hold): void {
  slot.release();
  gate();
}
