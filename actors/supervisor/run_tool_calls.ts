/**
 * One step's tool calls: all started at once, each in its own worker, under
 * the scheduler's policies (circuit breakers, per-tool limits, the cap on
 * workers, retries, fail-fast for critical calls). Each result is journaled
 * as it arrives; a call that is declared `background`, outlives the turn's
 * limit or is handed off continues as a task.
 *
 * @module
 */
import { FollowingController } from "../../src/_following_controller.ts";
import { ResultBudget } from "../../src/limit_result.ts";
import type { ToolCallSummary } from "../../src/events.ts";
import type { CallRecord, CallState, CallUpdate } from "../../src/journal/records.ts";
import type { TaskReason } from "../../src/journal/tasks.ts";
import type { CatalogTool } from "../../src/tool_catalog.ts";
import { retriesOf } from "../scheduler/call_policies.ts";
import { runAttempts } from "../scheduler/run_attempts.ts";
import type { ToolCallOutcome, ToolCallRequest } from "../tool_executor.ts";
import type { ToolResultBlock } from "../../src/tool_result_blocks.ts";
import { callPlacement, isRefusal, type ToolBatchContext } from "./tool_batch.ts";
import { admit, type Admitted, type Hold, releaseHold, waitForHold } from "./_admission.ts";
import { asksByInput, askTool, awaitApproval, needsDecision } from "./approval_desk.ts";

/** Why a critical call's siblings were cancelled. */
class CriticalFailure extends Error {}

/** What the model will hear of a batch's calls, and when the journal has all of it. */
export interface ToolBatch {
  summaries: ToolCallSummary[];
  /** Settles once every result is journaled and announced; rejects as the journal's write does. */
  durable: Promise<void>;
}

/** What the model is told of a call. */
interface CallReport {
  status: CallState;
  content: string;
  ms?: number;
  taskId?: string;
  attempts?: number;
  /** Images and documents it returned; `content` describes them. */
  blocks?: ToolResultBlock[];
}

/** A call's outcome as the model will hear it, on its way to the journal. */
interface Reported {
  summary: ToolCallSummary;
  durable: Promise<void>;
}

/**
 * Runs every call concurrently and resolves once the model can hear back on
 * each: a result, an error, a timeout, a cancellation, or "continues as task".
 * The results may still be on their way to the journal then: the next model
 * call can start meanwhile, and its answer waits for `durable`.
 *
 * @example
 * ```ts ignore
 * const { summaries, durable } = await runToolCalls(unreportedCalls(state), context);
 * ```
 */
export async function runToolCalls(
  calls: CallRecord[],
  context: ToolBatchContext,
): Promise<ToolBatch> {
  const started = performance.now();
  // The turn's stop, or a critical call that fails, cancels the siblings still running.
  using failFast = new FollowingController(context.signal);
  const batch = { ...context, signal: failFast.signal, results: new ResultBudget() };
  const admitted = calls.map((call) => admit(call, batch));
  // Journaled before any worker starts: from here on, a crash interrupts these calls.
  // A call whose tool decides by its input on approval is journaled once that is settled.
  // Written even if none starts yet: the write also carries the answer that asked for the calls.
  const starting = admitted.filter(({ call, tool, slot }) =>
    slot && !(!isRefusal(tool) && asksByInput(call, tool))
  );
  await context.record(starting.map(({ call }) => runningUpdate(call)));
  const reported = await Promise.all(
    admitted.map(async (admission) => {
      const { call, tool } = admission;
      const reported = await runOne(admission, batch);
      const { summary } = reported;
      const failed = summary.status === "failed" || summary.status === "timed_out";
      if (!isRefusal(tool) && tool.critical && failed && !failFast.signal.aborted) {
        failFast.abort(
          new CriticalFailure(
            `Cancelled: the critical call ${call.name} (${call.callId}) ${
              summary.status.replace("_", " ")
            }, so the turn went on without this one.`,
          ),
        );
      }
      return reported;
    }),
  );
  const wallMs = performance.now() - started;
  const summaries = reported.map(({ summary }) => summary);
  const durable = Promise.all(reported.map((each) => each.durable)).then(() =>
    context.emit({
      type: "tool_batch_finished",
      count: calls.length,
      wallMs,
      summedMs: summaries.reduce((sum, summary) => sum + summary.ms, 0),
    })
  );
  durable.catch(() => {}); // a turn that ends without awaiting it meets the failure in its next write
  return { summaries, durable };
}

/** The call (re)starts: one more attempt than the journal counts. */
function runningUpdate(call: CallRecord): CallUpdate {
  return { callId: call.callId, state: "running", attempts: call.attempts + 1 };
}

async function runOne(admission: Admitted, context: ToolBatchContext): Promise<Reported> {
  const { call, tool } = admission;
  let { gate, slot } = admission;
  if (isRefusal(tool)) {
    return reportCall(call, context, { status: "failed", content: tool.message });
  }
  const byInput = asksByInput(call, tool);
  const asked = byInput ? await askTool(call, tool, context) : false;
  if (asked !== false || needsDecision(call, tool)) {
    // A call that waits for a person holds nothing meanwhile: that may take hours.
    slot?.release();
    gate?.();
    [gate, slot] = [undefined, undefined];
    if (isRefusal(asked)) {
      const status = context.signal.aborted ? "cancelled" : "failed";
      return reportCall(call, context, { status, content: asked.message });
    }
    const ended = await awaitApproval(call, context);
    if (ended) return reportCall(call, context, { status: ended.status, content: ended.content });
  }
  let hold: Hold;
  if (gate && slot && !byInput) hold = { gate, slot }; // journaled as running with its batch
  else {
    const waited = gate && slot
      ? { gate, slot }
      : await waitForHold({ ...admission, gate, slot }, tool, context);
    if (isRefusal(waited)) {
      const status = context.signal.aborted ? "cancelled" : "failed";
      return reportCall(call, context, { status, content: waited.message });
    }
    hold = waited;
    await context.record([runningUpdate(call)]).catch((error) => {
      releaseHold(waited);
      throw error;
    });
  }
  return runStarted(call, tool, hold, context);
}

/**
 * Journals what the model hears of a call (announced from its record once durable).
 * A tool's result comes cut to its `resultBytes` already: the executor
 * measures it on what the worker sent.
 */
function reportCall(
  { callId, name }: CallRecord,
  context: ToolBatchContext,
  { status, content, ms = 0, taskId, attempts = 1, blocks }: CallReport,
): Reported {
  const isError = status !== "succeeded" && status !== "running";
  // Together, a batch's results fit in a request the API takes.
  const kept = context.results?.takeBlocks(content, blocks) ?? { content, blocks };
  const summary = { callId, name, status, ms, taskId, ...(attempts > 1 ? { attempts } : {}) };
  const reported = {
    content: kept.content,
    isError,
    ...(kept.blocks ? { blocks: kept.blocks } : {}),
  };
  const update = {
    callId,
    state: status,
    reported,
    ms,
    taskId,
    ...(attempts > 1 ? { attempts } : {}),
  };
  const durable = context.record([update]); // announced from its record, once durable
  durable.catch(() => {}); // whoever awaits the batch hears of a failed write; no one else must
  return { summary, durable };
}

/** Runs a call that holds a slot; the slot is given back when its worker is done. */
async function runStarted(
  call: CallRecord,
  tool: CatalogTool,
  hold: Hold,
  context: ToolBatchContext,
): Promise<Reported> {
  const task = new CallTask(call, context);
  // Cancelling the turn stops the call only while it belongs to the turn.
  const stop = new AbortController();
  let inTurn = true;
  const onTurnAbort = () => inTurn && stop.abort();
  context.signal.addEventListener("abort", onTurnAbort, { once: true });
  const request = callRequest(call, tool, context, stop.signal, task);
  const outcome = runWithRetries(call, tool, request, context).finally(() => {
    context.signal.removeEventListener("abort", onTurnAbort);
    releaseHold(hold);
  });
  const first = tool.background ? undefined : await firstOf(outcome, context.turnLimitMs);
  inTurn = false;
  if (first && !task.handedOff) {
    const { status, ms, attempts, blocks } = first;
    const content = failFastNote(status, first.content, context);
    return reportCall(call, context, { status, content, ms, attempts, blocks });
  }
  const continues = (content: string, ms: number) =>
    reportCall(call, context, { status: "running", content, ms, taskId: task.taskId });
  if (first) {
    await task.handedOff;
    return continues(
      `The work was handed to an outside system and continues as task ${task.taskId}; its result will come in a later message. The tool said: ${first.content}`,
      first.ms,
    );
  }
  await task.continueInBackground(tool.background ? "background" : "turn_limit", outcome);
  return continues(
    `This call continues in the background as task ${task.taskId}; its result will come to you in a later message.`,
    0,
  );
}

/** What the executor is asked to run for `call`, with the hooks that turn it into a task. */
function callRequest(
  call: CallRecord,
  tool: CatalogTool,
  context: ToolBatchContext,
  signal: AbortSignal,
  task: CallTask,
): ToolCallRequest {
  const { callId, name } = call;
  return {
    name,
    ...callPlacement(tool, context.conversationId, context.limits),
    callId,
    conversationId: context.conversationId,
    metadata: context.metadata,
    input: call.input,
    timeoutMs: tool.timeoutMs ?? context.defaultTimeoutMs,
    signal,
    task: context.handOff ? { taskId: task.taskId, secret: task.secret } : undefined,
    onProgress: (text) => context.emit({ type: "tool_call_progress", callId, name, text }),
    onHandOff: () => task.handOff(),
    onLateResult: (late) => task.finishLate(late),
  };
}

/**
 * The task a call becomes if it outlives its turn: handed off to an outside
 * system, run on in the background, or finished late after its timeout.
 * Each is journaled and announced.
 */
class CallTask {
  readonly taskId = `task_${crypto.randomUUID()}`;
  /** What an outside system must post the result with, if the tool hands off. */
  readonly secret = crypto.randomUUID();
  /** Set once the tool handed its work off: that task's start, on its way to the journal. */
  handedOff?: Promise<void>;
  readonly #call: CallRecord;
  readonly #context: ToolBatchContext;

  constructor(call: CallRecord, context: ToolBatchContext) {
    this.#call = call;
    this.#context = context;
  }

  /** The tool handed its work to an outside system: journaled once, however often it says so. */
  handOff(): void {
    this.handedOff ??= this.#start("handed_off", this.secret).then(() =>
      this.#announce("handed_off")
    );
  }

  /** A result that came after the call's timeout or cancellation still reaches the model. */
  finishLate(late: ToolCallOutcome): void {
    this.#announce("late");
    void quietly(this.taskId, async () => {
      await this.#start("late");
      await this.#finish(late);
    });
  }

  /** The call goes on without its turn; its outcome finishes the task when it comes. */
  async continueInBackground(
    reason: "background" | "turn_limit",
    outcome: Promise<ToolCallOutcome>,
  ): Promise<void> {
    await this.#start(reason);
    this.#announce(reason);
    void outcome.then((late) =>
      // A handed-off task is finished by the outside system, not by its worker.
      this.handedOff ?? quietly(this.taskId, () => this.#finish(late))
    );
  }

  #finish({ status, content }: ToolCallOutcome): Promise<boolean> {
    return this.#context.tasks.finish(this.taskId, status, content);
  }

  #start(reason: TaskReason, secret?: string): Promise<void> {
    const { callId, name } = this.#call;
    const { conversationId, tasks } = this.#context;
    return tasks.start({ taskId: this.taskId, conversationId, callId, name, reason, secret });
  }

  #announce(reason: TaskReason): void {
    const { callId, name } = this.#call;
    this.#context.emit({ type: "task_started", taskId: this.taskId, callId, name, reason });
  }
}

/**
 * Runs the call's attempts: one, or as many as an idempotent tool allows
 * while they fail or time out, each journaled and announced. Its breaker
 * counts the final outcome, which says how many attempts were made.
 */
function runWithRetries(
  call: CallRecord,
  tool: CatalogTool,
  request: ToolCallRequest,
  context: ToolBatchContext,
): Promise<ToolCallOutcome & { attempts: number }> {
  const { callId, name } = call;
  const { breakers, retry } = context.policies;
  const allowed = retriesOf(tool, retry) + 1;
  let previous = "";
  let made = 1;
  const attempt = async (n: number) => {
    made = n;
    if (n > 1) {
      await context.record([runningUpdate(call)]);
      context.emit({
        type: "tool_call_retrying",
        callId,
        name,
        attempt: n,
        attempts: allowed,
        previous,
      });
    }
    const outcome = await context.executor.run({
      ...request,
      // A late result of an attempt that is retried is not this call's result.
      onLateResult: n === allowed ? request.onLateResult : undefined,
    });
    previous = outcome.content;
    return outcome;
  };
  const plan = { attempts: allowed, backoffMs: retry.backoffMs, signal: request.signal! };
  return runAttempts(attempt, plan).then((outcome) => {
    if (outcome.status !== "cancelled" && tool.breaker !== false) {
      breakers.record(name, outcome.status === "succeeded");
    }
    return { ...outcome, attempts: made };
  });
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
async function firstOf<T>(outcome: Promise<T>, ms: number): Promise<T | undefined> {
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
