/**
 * What a batch of tool calls works with, shared by the modules that run
 * it, and where each call's worker is placed.
 *
 * @module
 */
import type { ResultBudget } from "../../src/limit_result.ts";
import type { ConversationEventInit } from "../../src/events.ts";
import type { ApprovalDecision, CallUpdate } from "../../src/journal/records.ts";
import type { CatalogTool, ToolCatalog } from "../../src/tool_catalog.ts";
import { type CallLimits, resolveLimits } from "../../src/tool_limits.ts";
import type { CallSlots } from "../call_slots.ts";
import type { CallPolicies } from "../scheduler/call_policies.ts";
import type { CallPreview, ToolExecutor } from "../tool_executor.ts";
import type { TaskBoard } from "../task_board.ts";

/** Why a call does not run: what the model is told instead of its result. */
export interface Refusal {
  type: "refused";
  message: string;
}

/**
 * A {@linkcode Refusal} saying `message`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isRefusal, refusal } from "./tool_batch.ts";
 * assertEquals(isRefusal(refusal("Unknown tool.")), true);
 * ```
 */
export function refusal(message: string): Refusal {
  return { type: "refused", message };
}

/** Whether `value` is a {@linkcode Refusal} rather than what was asked for. */
export function isRefusal(value: unknown): value is Refusal {
  return typeof value === "object" && value !== null && "type" in value &&
    value.type === "refused";
}

/** Where calls of tools that `needsApproval` wait for a person's decision (an `ApprovalDesk`). */
export interface Approvals {
  /** When a call asking for approval now is denied if nobody decides; undefined: never. */
  deadline(): number | undefined;
  /** The decision on `callId`: a person's, or a denial once `expiresAt` passes; undefined once `signal` aborts. */
  wait(
    callId: string,
    expiresAt: number | undefined,
    signal: AbortSignal,
  ): Promise<ApprovalDecision | undefined>;
}

/** What a batch of tool calls needs from its conversation. */
export interface ToolBatchContext {
  conversationId: string;
  /** What the conversation's creator attached to it, for its tools' `ctx.metadata`. */
  metadata?: Record<string, unknown>;
  catalog: ToolCatalog;
  /** The tool names this conversation may call. */
  allowed: readonly string[];
  defaultTimeoutMs: number;
  /** How long a call may keep the turn waiting before it continues as a task. */
  turnLimitMs: number;
  /** Cancels the calls that still belong to the turn. */
  signal: AbortSignal;
  /** The room left for this batch's results (set by {@linkcode runToolCalls}). */
  results?: ResultBudget;
  emit: (event: ConversationEventInit) => void;
  /**
   * Journals call updates, after what the conversation has yet to journal
   * before them (the answer that asked for the calls); rejects if the
   * conversation is no longer ours to write.
   */
  record: (updates: CallUpdate[]) => Promise<void>;
  tasks: TaskBoard;
  /** Whether an outside system can deliver a handed-off call's result here. */
  handOff: boolean;
  executor: ToolExecutor;
  /** The operator's defaults for what a call may use. */
  limits: CallLimits;
  /** The cap on live workers, shared by every conversation. */
  slots: CallSlots;
  policies: CallPolicies;
  /** Where calls of tools that `needsApproval` wait for a decision, and until when. */
  approvals: Approvals;
}

/**
 * Where and how a call of `tool` runs in a conversation: its worker's
 * module, permissions and limits, and whom it may share a host or a
 * worker with.
 *
 * @example
 * ```ts ignore
 * executor.prepare(callPlacement(catalog.get("current_time")!, "conversation-1", DEFAULT_LIMITS));
 * ```
 */
export function callPlacement(
  tool: CatalogTool,
  conversationId: string,
  limits: CallLimits,
): CallPreview {
  return {
    ...toolPlacement(tool, limits),
    isolationKey: tool.isolation === "conversation" ? conversationId : undefined,
    reuse: tool.reuse && {
      key: tool.reuse === "any" ? "*" : conversationId,
      concurrency: tool.concurrency ?? 1,
    },
  };
}

/**
 * Where any call of `tool` runs, whichever conversation makes it: its
 * worker's module, permissions and limits (the host profile it needs).
 *
 * @example
 * ```ts ignore
 * executor.offer(catalog.list().map((tool) => toolPlacement(tool, DEFAULT_LIMITS)));
 * ```
 */
export function toolPlacement(tool: CatalogTool, limits: CallLimits): CallPreview {
  return {
    moduleUrl: tool.moduleUrl,
    permissions: tool.permissions,
    limits: resolveLimits(tool.limits, limits),
  };
}
