/**
 * One step's tool calls: all started at once, each in its own worker, under
 * the scheduler's policies (circuit breakers, per-tool limits, the cap on
 * workers, retries, fail-fast for critical calls). Each result is journaled
 * as it arrives; a call that is declared `background`, outlives the turn's
 * limit or is handed off continues as a task.
 *
 * @module
 */
import type { ConversationEventInit, ToolCallSummary } from "../../src/events.ts";
import type { CallRecord, CallState, CallUpdate } from "../../src/journal/records.ts";
import type { TaskReason } from "../../src/journal/tasks.ts";
import type { CatalogTool, ToolCatalog } from "../../src/tool_catalog.ts";
import { type CallLimits, resolveLimits } from "../../src/tool_limits.ts";
import { type CallSlots, QueueFull, type Slot } from "../call_slots.ts";
import type { CallPolicies } from "../scheduler/call_policies.ts";
import { runAttempts } from "../scheduler/run_attempts.ts";
import type { GateRelease } from "../scheduler/tool_gates.ts";
import type {
  CallPreview,
  ToolCallOutcome,
  ToolCallRequest,
  ToolExecutor,
} from "../tool_executor.ts";
import type { TaskBoard } from "../task_board.ts";

/** What a batch of tool calls needs from its conversation. */
export interface ToolBatchContext {
  conversationId: string;
  catalog: ToolCatalog;
  /** The tool names this conversation may call. */
  allowed: readonly string[];
  defaultTimeoutMs: number;
  /** How long a call may keep the turn waiting before it continues as a task. */
  turnLimitMs: number;
  /** Cancels the calls that still belong to the turn. */
  signal: AbortSignal;
  emit: (event: ConversationEventInit) => void;
  /** Journals call updates; rejects if the conversation is no longer ours to write. */
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
}

/** What a call holds while it runs: a place under its tool's limits, and a worker slot. */
interface Hold {
  gate: GateRelease;
  slot: Slot;
}

/** Why a critical call's siblings were cancelled. */
class CriticalFailure extends Error {}

/**
 * Runs every call concurrently and resolves once the model can hear back on
 * each: a result, an error, a timeout, a cancellation, or "continues as task".
 *
 * @example
 * ```ts ignore
 * const summaries = await runToolCalls(unreportedCalls(state), context);
 * ```
 */
export async function runToolCalls(
  calls: CallRecord[],
  context: ToolBatchContext,
): Promise<ToolCallSummary[]> {
  const started = performance.now();
  // A critical call that fails cancels the siblings still running.
  const failFast = new AbortController();
  const batch = { ...context, signal: AbortSignal.any([context.signal, failFast.signal]) };
  const admitted = calls.map((call) => admit(call, batch));
  // Journaled before any worker starts: from here on, a crash interrupts these calls.
  const starting = admitted.filter(({ hold }) => hold);
  if (starting.length > 0) await context.record(starting.map(({ call }) => runningUpdate(call)));
  const summaries = await Promise.all(
    admitted.map(async ({ call, tool, hold }) => {
      const summary = await runOne(call, tool, hold, batch);
      const failed = summary.status === "failed" || summary.status === "timed_out";
      if (typeof tool !== "string" && tool.critical && failed && !failFast.signal.aborted) {
        failFast.abort(
          new CriticalFailure(
            `Cancelled: the critical call ${call.name} (${call.callId}) ${
              summary.status.replace("_", " ")
            }, so the turn went on without this one.`,
          ),
        );
      }
      return summary;
    }),
  );
  context.emit({
    type: "tool_batch_finished",
    count: calls.length,
    wallMs: performance.now() - started,
    summedMs: summaries.reduce((sum, summary) => sum + summary.ms, 0),
  });
  return summaries;
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
): CallPreview & Pick<ToolCallRequest, "reuse"> {
  return {
    moduleUrl: tool.moduleUrl,
    permissions: tool.permissions,
    limits: resolveLimits(tool.limits, limits),
    isolationKey: tool.isolation === "conversation" ? conversationId : undefined,
    reuse: tool.reuse && {
      key: tool.reuse === "any" ? "*" : conversationId,
      concurrency: tool.concurrency ?? 1,
    },
  };
}

/** The call (re)starts: one more attempt than the journal counts. */
function runningUpdate(call: CallRecord): CallUpdate {
  return { callId: call.callId, state: "running", attempts: call.attempts + 1 };
}

/**
 * The call's tool (or why it cannot run: unknown, bad input, breaker open),
 * and, if its tool's limits and the worker cap have room now, its hold.
 */
function admit(call: CallRecord, context: ToolBatchContext) {
  const { breakers, gates } = context.policies;
  const resolved = resolveTool(call, context);
  const tool = typeof resolved === "string" ? resolved : breakers.admit(resolved.name) ?? resolved;
  if (typeof tool === "string") return { call, tool };
  const gate = gates.tryEnter(tool.name, tool);
  const slot = gate && context.slots.tryAcquire();
  if (gate && !slot) gate();
  return { call, tool, hold: slot ? { gate: gate!, slot } : undefined };
}

/** The tool to run, or why there is none. */
function resolveTool(call: CallRecord, context: ToolBatchContext): CatalogTool | string {
  const tool = context.allowed.includes(call.name) ? context.catalog.get(call.name) : undefined;
  if (!tool) {
    return `Unknown tool "${call.name}". Available tools: ${context.allowed.join(", ") || "none"}.`;
  }
  return context.catalog.checkInput(tool.name, call.input) ?? tool;
}

async function runOne(
  call: CallRecord,
  tool: CatalogTool | string,
  hold: Hold | undefined,
  context: ToolBatchContext,
): Promise<ToolCallSummary> {
  const { callId, name } = call;
  if (typeof tool === "string") {
    context.emit({ type: "tool_call_started", callId, name, input: call.input });
    return reportCall(call, context, "failed", tool, 0);
  }
  if (!hold) {
    const waited = await waitForHold(call, tool, context);
    if (typeof waited === "string") {
      return reportCall(call, context, context.signal.aborted ? "cancelled" : "failed", waited, 0);
    }
    hold = waited;
    await context.record([runningUpdate(call)]).catch((error) => {
      releaseHold(waited);
      throw error;
    });
  }
  context.emit({ type: "tool_call_started", callId, name, input: call.input });
  return runStarted(call, tool, hold, context);
}

function releaseHold({ gate, slot }: Hold): void {
  slot.release();
  gate();
}

/**
 * Journals what the model hears of a call, then announces it. A tool's
 * result comes cut to its `resultBytes` already: the executor measures it
 * on what the worker sent.
 */
async function reportCall(
  { callId, name }: CallRecord,
  context: ToolBatchContext,
  status: CallState,
  content: string,
  ms: number,
  taskId?: string,
  attempts = 1,
): Promise<ToolCallSummary> {
  const isError = status !== "succeeded" && status !== "running";
  await context.record([{ callId, state: status, reported: { content, isError }, ms, taskId }]);
  const summary = { callId, name, status, ms, taskId, ...(attempts > 1 ? { attempts } : {}) };
  context.emit({ type: "tool_call_finished", ...summary, content });
  return summary;
}

/**
 * Waits, as `queued`, for room under the tool's limits and then for a
 * worker slot; or says why the call gets none: the turn was cancelled, or
 * the line is full.
 */
async function waitForHold(
  call: CallRecord,
  tool: CatalogTool,
  context: ToolBatchContext,
): Promise<Hold | string> {
  const { callId, name, input } = call;
  const { gates } = context.policies;
  let gate = gates.tryEnter(tool.name, tool);
  const waitingFor = gate ? "worker" : "tool_limit";
  context.emit({ type: "tool_call_queued", callId, name, input, waitingFor });
  try {
    gate ??= await gates.enter(tool.name, tool, context.signal);
  } catch {
    return `Cancelled while waiting for ${tool.name}'s limit on calls.`;
  }
  try {
    const slot = await context.slots.acquire(context.conversationId, context.signal);
    return { gate, slot };
  } catch (error) {
    gate();
    if (error instanceof QueueFull) {
      return `The runtime is at capacity (${context.slots.queued} tool calls are waiting for a worker), so this call was not run. Try again later, or with fewer calls at once.`;
    }
    return "Cancelled while waiting for a worker.";
  }
}

/** Runs a call that holds a slot; the slot is given back when its worker is done. */
async function runStarted(
  call: CallRecord,
  tool: CatalogTool,
  hold: Hold,
  context: ToolBatchContext,
): Promise<ToolCallSummary> {
  const { callId, name } = call;
  let attempt = 1;
  const report = (status: CallState, content: string, ms: number, taskId?: string) =>
    reportCall(call, context, status, failFastNote(status, content, context), ms, taskId, attempt);
  const taskId = `task_${crypto.randomUUID()}`;
  const task = { taskId, conversationId: context.conversationId, callId, name };
  const becomesTask = (reason: TaskReason) => {
    context.emit({ type: "task_started", taskId, callId, name, reason });
  };
  // Cancelling the turn stops the call only while it belongs to the turn.
  const stop = new AbortController();
  let inTurn = true;
  const onTurnAbort = () => inTurn && stop.abort();
  context.signal.addEventListener("abort", onTurnAbort, { once: true });
  let handedOff: Promise<void> | undefined;
  const secret = crypto.randomUUID();
  const { breakers, retry } = context.policies;
  const attempts = tool.idempotent ? (tool.retries ?? retry.retries) + 1 : 1;
  let previous = "";
  const runAttempt = async (n: number) => {
    attempt = n;
    if (n > 1) {
      await context.record([runningUpdate(call)]);
      context.emit({ type: "tool_call_retrying", callId, name, attempt: n, attempts, previous });
    }
    const outcome = await context.executor.run({
      ...request,
      // A late result of an attempt that is retried is not this call's result.
      onLateResult: n === attempts ? request.onLateResult : undefined,
    });
    previous = outcome.content;
    return outcome;
  };
  const request: ToolCallRequest = {
    name,
    ...callPlacement(tool, context.conversationId, context.limits),
    callId,
    input: call.input,
    timeoutMs: tool.timeoutMs ?? context.defaultTimeoutMs,
    signal: stop.signal,
    task: context.handOff ? { taskId, secret } : undefined,
    onProgress: (text) => context.emit({ type: "tool_call_progress", callId, name, text }),
    onHandOff: () => {
      handedOff ??= context.tasks.start({ ...task, reason: "handed_off", secret })
        .then(() => becomesTask("handed_off"));
    },
    onLateResult: (late) => {
      becomesTask("late");
      void quietly(taskId, async () => {
        await context.tasks.start({ ...task, reason: "late" });
        await context.tasks.finish(taskId, late.status, late.content);
      });
    },
  };
  const outcome = runAttempts(runAttempt, {
    attempts,
    backoffMs: retry.backoffMs,
    signal: stop.signal,
  })
    .then((outcome) => {
      if (outcome.status !== "cancelled") breakers.record(name, outcome.status === "succeeded");
      return outcome;
    })
    .finally(() => {
      context.signal.removeEventListener("abort", onTurnAbort);
      releaseHold(hold);
    });

  const first = tool.background ? undefined : await firstOf(outcome, context.turnLimitMs);
  inTurn = false;
  if (first && !handedOff) return report(first.status, first.content, first.ms);
  if (first && handedOff) {
    await handedOff;
    return report(
      "running",
      `The work was handed to an outside system and continues as task ${taskId}; its result will come in a later message. The tool said: ${first.content}`,
      first.ms,
      taskId,
    );
  }
  const reason = tool.background ? "background" : "turn_limit";
  await context.tasks.start({ ...task, reason });
  becomesTask(reason);
  void outcome.then((late) =>
    // A handed-off task is finished by the outside system, not by its worker.
    handedOff ?? quietly(taskId, () => context.tasks.finish(taskId, late.status, late.content))
  );
  return report(
    "running",
    `This call continues in the background as task ${taskId}; its result will come to you in a later message.`,
    0,
    taskId,
  );
}

/** A sibling cancelled because a critical call failed says so. */
function failFastNote(status: CallState, content: string, context: ToolBatchContext): string {
  const reason = context.signal.reason;
  return status === "cancelled" && reason instanceof CriticalFailure ? reason.message : content;
}

/** Records a task's progress off the turn; never rejects (the runtime may be shutting down). */
async function quietly(taskId: string, record: () => Promise<unknown>): Promise<void> {
  try {
    await record();
  } catch (error) {
    console.error(`Task ${taskId} could not be recorded:`, error);
  }
}

/** The outcome if it comes within `ms`, else undefined. */
async function firstOf(
  outcome: Promise<ToolCallOutcome>,
  ms: number,
): Promise<ToolCallOutcome | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([outcome, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
