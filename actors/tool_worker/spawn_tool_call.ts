/**
 * Runs one `tool_use` in a tool worker from a pool (warm, reused or new)
 * and settles with its outcome.
 *
 * @module
 */
import { errorMessage } from "../../src/_error_message.ts";
import { limitResult } from "../../src/limit_result.ts";
import type { ToolCallOutcome, ToolCallRequest } from "../tool_executor.ts";
import type { FromWorker } from "./protocol.ts";
import { progressGate } from "../progress_gate.ts";
import type { Exchange, ToolWorker } from "./tool_worker.ts";
import type { CallEnd, WorkerLease, WorkerPool } from "./worker_pool.ts";

/** How long a stopped call's `ctx.signal` has to wind down before its worker is terminated. */
export const STOP_GRACE_MS = 100;

/**
 * How long a call's worker may take to load its tool and begin the call.
 * The call's own `timeoutMs` counts from that moment, so that a call does
 * not time out because the machine was busy starting other workers.
 */
export const CALL_START_TIMEOUT_MS = 30_000;

/**
 * Takes a worker for the call from `pool`, sends it the input, and settles
 * when the result arrives, the worker crashes, the timeout passes (counted
 * from when the worker begins the call) or `signal` aborts. A worker whose
 * call succeeded stays in the pool if the request's `reuse` allows; any
 * other is stopped. Never rejects: every failure is an outcome the model
 * can read.
 *
 * @example
 * ```ts ignore
 * const outcome = await spawnToolCall({
 *   name: "current_time",
 *   moduleUrl: new URL("../../tools/current_time.ts", import.meta.url).href,
 *   permissions: {},
 *   limits: DEFAULT_LIMITS,
 *   callId: "toolu_01",
 *   input: {},
 *   timeoutMs: 5_000,
 * }, new WorkerPool());
 * ```
 */
export function spawnToolCall(
  request: ToolCallRequest,
  pool: WorkerPool,
): Promise<ToolCallOutcome> {
  const started = performance.now();
  const outcome = (status: ToolCallOutcome["status"], content: string): ToolCallOutcome => ({
    status,
    content: limitResult(content, request.limits.resultBytes),
    ms: performance.now() - started,
  });
  if (request.signal?.aborted) {
    return Promise.resolve(outcome("cancelled", "Cancelled before the tool started."));
  }
  let lease: WorkerLease;
  try {
    lease = pool.take(request, request.reuse);
  } catch (error) {
    return Promise.resolve(
      outcome("failed", `The tool could not be started: ${errorMessage(error)}`),
    );
  }
  const { progressPerSecond, progressBytes, resultBytes } = request.limits;
  const progress = progressGate(
    progressPerSecond,
    progressBytes,
    (text) => request.onProgress?.(text),
  );
  const { worker } = lease;
  return new Promise((resolve) => {
    const settle = (
      status: ToolCallOutcome["status"],
      content: string,
      how: CallEnd = status === "succeeded" ? "succeeded" : "failed",
    ) => {
      clearTimeout(timer);
      progress.close();
      request.signal?.removeEventListener("abort", onAbort);
      const stop = lease.end(how);
      if (status === "timed_out" || status === "cancelled") {
        stopGently(
          worker,
          id,
          exchange,
          status,
          stop,
          (late) => request.onLateResult?.(outcome(...late)),
        );
      } else {
        worker.close(id);
        if (stop) worker.stop();
      }
      resolve(outcome(status, content));
    };
    const onAbort = () => settle("cancelled", "Cancelled before the tool finished.");
    let begun = false;
    let timer = setTimeout(
      () => settle("timed_out", notStarted(CALL_START_TIMEOUT_MS)),
      CALL_START_TIMEOUT_MS,
    );
    const begin = () => {
      if (begun) return; // tool code can post "started" too: it never buys more time
      begun = true;
      clearTimeout(timer);
      timer = setTimeout(
        () => settle("timed_out", timedOut(request.timeoutMs).content),
        request.timeoutMs,
      );
      request.onStarted?.();
    };
    const exchange: Exchange = {
      onMessage: (message) => {
        if (message.type === "started") begin();
        else if (message.type === "progress") progress.push(message.text);
        else if (message.type === "handed_off") request.onHandOff?.();
        else if (message.type === "result") settle(...resultOf(message));
      },
      onCrash: (message) => settle("failed", `The tool crashed: ${message}`, "crashed"),
    };
    const id = worker.open(exchange);
    request.signal?.addEventListener("abort", onAbort, { once: true });
    const { callId, input, task, entry } = request;
    worker.send(id, { type: "run", callId, input, task, resultBytes, entry });
  });
}

/**
 * The outcome of a call stopped at its deadline of `timeoutMs`.
 *
 * @example
 * ```ts
 * import { timedOut } from "./spawn_tool_call.ts";
 * console.log(timedOut(500).content); // "The tool timed out after 500 ms and was stopped."
 * ```
 */
export function timedOut(timeoutMs: number): ToolCallOutcome {
  return {
    status: "timed_out",
    content: `The tool timed out after ${timeoutMs} ms and was stopped.`,
    ms: timeoutMs,
  };
}

/** Why a call whose worker never began it was stopped. */
function notStarted(ms: number): string {
  return `The tool did not start within ${ms} ms (its module took too long to load, or the machine is overloaded) and was stopped.`;
}

type Settled = [ToolCallOutcome["status"], string];

function resultOf(message: Extract<FromWorker, { type: "result" }>): Settled {
  return message.ok ? ["succeeded", message.content] : ["failed", message.message];
}

/**
 * The outcome is final already; the grace lets the tool release what it
 * holds, and a result it still sends is handed to `onLate`. The worker is
 * stopped after it if no other call runs on it (else the last one stops it).
 */
function stopGently(
  worker: ToolWorker,
  id: number,
  exchange: Exchange,
  reason: "timed_out" | "cancelled",
  stop: boolean,
  onLate: (late: Settled) => void,
): void {
  const end = () => {
    clearTimeout(timer);
    worker.close(id);
    if (stop) worker.stop();
  };
  const timer = setTimeout(end, STOP_GRACE_MS);
  exchange.onMessage = (message) => {
    if (message.type !== "result") return;
    end();
    onLate(resultOf(message));
  };
  exchange.onCrash = end;
  worker.send(id, { type: "abort", reason: reason === "timed_out" ? "timeout" : "cancelled" });
}
