/**
 * One step's tool calls: all spawned at once, each in its own worker. Each
 * result is journaled as it arrives; a call that is declared `background`,
 * outlives the turn's limit or is handed off continues as a task.
 *
 * @module
 */
import type { ConversationEventInit, ToolCallSummary } from "../../src/events.ts";
import type { CallRecord, CallState, CallUpdate } from "../../src/journal/records.ts";
import type { TaskReason } from "../../src/journal/tasks.ts";
import type { CatalogTool, ToolCatalog } from "../../src/tool_catalog.ts";
import { type CallLimits, resolveLimits } from "../../src/tool_limits.ts";
import { type CallSlots, QueueFull, type Slot } from "../call_slots.ts";
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
}

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
  const resolved = calls.map((call) => {
    const tool = resolveTool(call, context);
    return { call, tool, slot: typeof tool === "string" ? undefined : context.slots.tryAcquire() };
  });
  // Journaled before any worker starts: from here on, a crash interrupts these calls.
  const starting = resolved.filter(({ slot }) => slot);
  if (starting.length > 0) await context.record(starting.map(({ call }) => runningUpdate(call)));
  const summaries = await Promise.all(
    resolved.map(({ call, tool, slot }) => runOne(call, tool, slot, context)),
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

function runningUpdate(call: CallRecord): CallUpdate {
  return { callId: call.callId, state: "running", attempts: call.attempts + 1 };
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
  slot: Slot | undefined,
  context: ToolBatchContext,
): Promise<ToolCallSummary> {
  const { callId, name } = call;
  if (typeof tool === "string") {
    context.emit({ type: "tool_call_started", callId, name, input: call.input });
    return reportCall(call, context, "failed", tool, 0);
  }
  if (!slot) {
    context.emit({ type: "tool_call_queued", callId, name, input: call.input });
    const waited = await waitForSlot(context);
    if (typeof waited === "string") {
      return reportCall(call, context, context.signal.aborted ? "cancelled" : "failed", waited, 0);
    }
    slot = waited;
    await context.record([runningUpdate(call)]).catch((error) => {
      slot!.release();
      throw error;
    });
  }
  context.emit({ type: "tool_call_started", callId, name, input: call.input });
  return runStarted(call, tool, slot, context);
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
): Promise<ToolCallSummary> {
  const isError = status !== "succeeded" && status !== "running";
  await context.record([{ callId, state: status, reported: { content, isError }, ms, taskId }]);
  context.emit({ type: "tool_call_finished", callId, name, status, ms, content, taskId });
  return { callId, name, status, ms, taskId };
}

/** A slot, or why the call gets none: the turn was cancelled, or the line is full. */
async function waitForSlot(context: ToolBatchContext): Promise<Slot | string> {
  try {
    return await context.slots.acquire(context.conversationId, context.signal);
  } catch (error) {
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
  slot: Slot,
  context: ToolBatchContext,
): Promise<ToolCallSummary> {
  const { callId, name } = call;
  const report = (status: CallState, content: string, ms: number, taskId?: string) =>
    reportCall(call, context, status, content, ms, taskId);
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
  const outcome = context.executor.run({
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
  }).finally(() => {
    context.signal.removeEventListener("abort", onTurnAbort);
    slot.release();
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
