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
import type { ToolResultBlock } from "../../src/tool_result_blocks.ts";
import { type ProgressGate, progressGate } from "../progress_gate.ts";
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
  const outcome = ([status, content, blocks]: Settled): ToolCallOutcome => ({
    status,
    content: limitResult(content, request.limits.resultBytes),
    ...(blocks ? { blocks } : {}),
    ms: performance.now() - started,
  });
  if (request.signal?.aborted) {
    return Promise.resolve(outcome(["cancelled", "Cancelled before the tool started."]));
  }
  let lease: WorkerLease;
  try {
    lease = pool.take(request, request.reuse);
  } catch (error) {
    return Promise.resolve(
      outcome(["failed", `The tool could not be started: ${errorMessage(error)}`]),
    );
  }
  return new Promise((resolve) => {
    new RunningCall(
      request,
      lease,
      (settled) => resolve(outcome(settled)),
      (late) => request.onLateResult?.(outcome(late)),
    ).start();
  });
}

/**
 * One call on its leased worker, from the `run` message to its end: the
 * first of a result, a crash, the deadline or the caller's abort settles it.
 */
class RunningCall {
  readonly #request: ToolCallRequest;
  readonly #lease: WorkerLease;
  readonly #done: (settled: Settled) => void;
  readonly #onLate: (late: Settled) => void;
  readonly #progress: ProgressGate;
  readonly #onAbort = () => this.#settle("cancelled", "Cancelled before the tool finished.");
  readonly #exchange: Exchange = {
    onMessage: (message) => {
      if (message.type === "started") this.#begin();
      else if (message.type === "progress") this.#progress.push(message.text);
      else if (message.type === "handed_off") this.#request.onHandOff?.();
      else if (message.type === "result") this.#settleWith(resultOf(message));
    },
    onCrash: (message) => this.#settle("failed", `The tool crashed: ${message}`, "crashed"),
  };
  #id = 0;
  #begun = false;
  #timer?: ReturnType<typeof setTimeout>;

  constructor(
    request: ToolCallRequest,
    lease: WorkerLease,
    done: (settled: Settled) => void,
    onLate: (late: Settled) => void,
  ) {
    this.#request = request;
    this.#lease = lease;
    this.#done = done;
    this.#onLate = onLate;
    const { progressPerSecond, progressBytes } = request.limits;
    this.#progress = progressGate(
      progressPerSecond,
      progressBytes,
      (text) => request.onProgress?.(text),
    );
  }

  /** Sends the call; its deadline waits for the worker to begin it. */
  start(): void {
    const { worker } = this.#lease;
    this.#timer = setTimeout(
      () => this.#settle("timed_out", notStarted(CALL_START_TIMEOUT_MS)),
      CALL_START_TIMEOUT_MS,
    );
    this.#id = worker.open(this.#exchange);
    this.#request.signal?.addEventListener("abort", this.#onAbort, { once: true });
    const { callId, conversationId, metadata, input, task, entry, limits } = this.#request;
    worker.send(this.#id, {
      type: "run",
      callId,
      conversationId,
      metadata,
      input,
      task,
      resultBytes: limits.resultBytes,
      entry,
    });
  }

  #begin(): void {
    if (this.#begun) return; // tool code can post "started" too: it never buys more time
    this.#begun = true;
    clearTimeout(this.#timer);
    const { timeoutMs } = this.#request;
    this.#timer = setTimeout(
      () => this.#settle("timed_out", timedOut(timeoutMs).content),
      timeoutMs,
    );
    this.#request.onStarted?.();
  }

  #settleWith([status, content, blocks]: Settled): void {
    this.#settle(status, content, undefined, blocks);
  }

  #settle(
    status: ToolCallOutcome["status"],
    content: string,
    how: CallEnd = status === "succeeded" ? "succeeded" : "failed",
    blocks?: ToolResultBlock[],
  ): void {
    clearTimeout(this.#timer);
    this.#progress.close();
    this.#request.signal?.removeEventListener("abort", this.#onAbort);
    const { worker } = this.#lease;
    const stop = this.#lease.end(how);
    if (status === "timed_out" || status === "cancelled") {
      const grace = this.#request.stopGraceMs ?? STOP_GRACE_MS;
      stopGently(worker, this.#id, this.#exchange, { reason: status, stop, grace }, this.#onLate);
    } else {
      worker.close(this.#id);
      if (stop) worker.stop();
    }
    this.#done([status, content, blocks]);
  }
}

/**
 * The outcome of a call stopped at its deadline of `timeoutMs`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { timedOut } from "./spawn_tool_call.ts";
 * assertEquals(timedOut(500).content, "The tool timed out after 500 ms and was stopped.");
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

type Settled = [ToolCallOutcome["status"], string, ToolResultBlock[]?];

function resultOf(message: Extract<FromWorker, { type: "result" }>): Settled {
  return message.ok ? ["succeeded", message.content, message.blocks] : ["failed", message.message];
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
  { reason, stop, grace }: { reason: "timed_out" | "cancelled"; stop: boolean; grace: number },
  onLate: (late: Settled) => void,
): void {
  const end = () => {
    clearTimeout(timer);
    worker.close(id);
    if (stop) worker.stop();
  };
  const timer = setTimeout(end, grace);
  exchange.onMessage = (message) => {
    if (message.type !== "result") return;
    end();
    onLate(resultOf(message));
  };
  exchange.onCrash = end;
  worker.send(id, { type: "abort", reason: reason === "timed_out" ? "timeout" : "cancelled" });
}
