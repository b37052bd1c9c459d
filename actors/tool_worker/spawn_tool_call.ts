/**
 * Runs one `tool_use` in a fresh tool worker and settles with its outcome.
 *
 * @module
 */
import type { ToolPermissions } from "../../src/tool.ts";
import { errorMessage } from "../../src/_error_message.ts";
import type { FromWorker } from "./protocol.ts";
import { ToolWorker } from "./tool_worker.ts";

/** How long a stopped call's `ctx.signal` has to wind down before its worker is terminated. */
const STOP_GRACE_MS = 100;

/** What to run: one call of one tool. */
export interface ToolCallRequest {
  moduleUrl: string;
  permissions: ToolPermissions;
  callId: string;
  input: unknown;
  timeoutMs: number;
  /** Aborting it cancels the call: the worker is terminated, the outcome is `cancelled`. */
  signal?: AbortSignal;
  onProgress?: (text: string) => void;
  /** The task the call becomes if the tool hands its work off (`ctx.handOff()`); none refuses it. */
  task?: { taskId: string; secret: string };
  onHandOff?: () => void;
  /** A result that arrived in the grace after a timeout or cancellation: too late, but not lost. */
  onLateResult?: (outcome: ToolCallOutcome) => void;
}

/** How a call ended; `content` is what the model gets in its `tool_result`. */
export interface ToolCallOutcome {
  status: "succeeded" | "failed" | "timed_out" | "cancelled";
  content: string;
  /** From spawn to outcome. */
  ms: number;
}

/**
 * Spawns a worker for the call, sends it the input, and settles when the
 * result arrives, the worker crashes, the timeout passes or `signal` aborts.
 * Never rejects: every failure is an outcome the model can read.
 *
 * @example
 * ```ts ignore
 * const outcome = await spawnToolCall({
 *   moduleUrl: new URL("../../tools/current_time.ts", import.meta.url).href,
 *   permissions: {},
 *   callId: "toolu_01",
 *   input: {},
 *   timeoutMs: 5_000,
 * });
 * ```
 */
export function spawnToolCall(request: ToolCallRequest): Promise<ToolCallOutcome> {
  const started = performance.now();
  const outcome = (status: ToolCallOutcome["status"], content: string): ToolCallOutcome => ({
    status,
    content,
    ms: performance.now() - started,
  });
  if (request.signal?.aborted) {
    return Promise.resolve(outcome("cancelled", "Cancelled before the tool started."));
  }
  let worker: ToolWorker;
  try {
    worker = ToolWorker.spawn(request.moduleUrl, request.permissions);
  } catch (error) {
    return Promise.resolve(
      outcome("failed", `The tool could not be started: ${errorMessage(error)}`),
    );
  }
  return new Promise((resolve) => {
    const settle = (status: ToolCallOutcome["status"], content: string) => {
      clearTimeout(timer);
      request.signal?.removeEventListener("abort", onAbort);
      if (status === "timed_out" || status === "cancelled") {
        stopGently(worker, status, (late) => request.onLateResult?.(outcome(...late)));
      } else worker.stop();
      resolve(outcome(status, content));
    };
    const onAbort = () => settle("cancelled", "Cancelled before the tool finished.");
    const timer = setTimeout(
      () =>
        settle("timed_out", `The tool timed out after ${request.timeoutMs} ms and was stopped.`),
      request.timeoutMs,
    );
    worker.onMessage = (message) => {
      if (message.type === "progress") request.onProgress?.(message.text);
      else if (message.type === "handed_off") request.onHandOff?.();
      else if (message.type === "result") settle(...resultOf(message));
    };
    worker.onCrash = (message) => settle("failed", `The tool crashed: ${message}`);
    request.signal?.addEventListener("abort", onAbort, { once: true });
    worker.send({ type: "run", callId: request.callId, input: request.input, task: request.task });
  });
}

type Settled = [ToolCallOutcome["status"], string];

function resultOf(message: Extract<FromWorker, { type: "result" }>): Settled {
  return message.ok ? ["succeeded", message.content] : ["failed", message.message];
}

/**
 * The outcome is final already; the grace lets the tool release what it
 * holds, and a result it still sends is handed to `onLate`.
 */
function stopGently(
  worker: ToolWorker,
  reason: "timed_out" | "cancelled",
  onLate: (late: Settled) => void,
): void {
  const timer = setTimeout(() => worker.stop(), STOP_GRACE_MS);
  worker.onMessage = (message) => {
    if (message.type !== "result") return;
    clearTimeout(timer);
    worker.stop();
    onLate(resultOf(message));
  };
  worker.send({ type: "abort", reason: reason === "timed_out" ? "timeout" : "cancelled" });
}
