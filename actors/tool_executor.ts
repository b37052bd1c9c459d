/**
 * Where tool calls run. The supervisor asks an executor to run a call and
 * gets back an outcome; whether the call's worker lives in this process or
 * in a tool host process is the executor's business.
 *
 * @module
 */
import type { ToolResultBlock } from "../src/tool_result_blocks.ts";
import type { ToolPermissions } from "../src/tool.ts";
import type { CallLimits } from "../src/tool_limits.ts";

/** What to run: one call of one tool. */
export interface ToolCallRequest {
  /** The tool's name, for messages. */
  name: string;
  moduleUrl: string;
  permissions: ToolPermissions;
  limits: CallLimits;
  callId: string;
  /** The call's conversation, and what its creator attached to it: the tool's `ctx`. */
  conversationId?: string;
  metadata?: Record<string, unknown>;
  input: unknown;
  /** How long the call may run, from when its worker begins it (loading the worker is not counted). */
  timeoutMs: number;
  /**
   * How long a stopped call's worker may still send its result (then a late
   * one) before the worker is stopped. Default `STOP_GRACE_MS` (100 ms).
   */
  stopGraceMs?: number;
  /** Calls with different keys never share a failure domain (see the tool's `isolation`). */
  isolationKey?: string;
  /** Calls with the same key may share a worker, up to `concurrency` at once (see the tool's `reuse`). */
  reuse?: ReuseTerms;
  /** `"needsApproval"`: ask the tool whether this input needs a person's approval, instead of running it. */
  entry?: "needsApproval";
  /** Aborting it cancels the call: the worker is stopped, the outcome is `cancelled`. */
  signal?: AbortSignal;
  /** The worker has begun the call: its `timeoutMs` counts from here. */
  onStarted?: () => void;
  onProgress?: (text: string) => void;
  /** The task the call becomes if the tool hands its work off (`ctx.handOff()`); none refuses it. */
  task?: { taskId: string; secret: string };
  onHandOff?: () => void;
  /** A result that arrived in the grace after a timeout or cancellation: too late, but not lost. */
  onLateResult?: (outcome: ToolCallOutcome) => void;
}

/**
 * How a call ended; `content` is what the model gets in its `tool_result`,
 * already cut to the call's `limits.resultBytes`.
 */
export interface ToolCallOutcome {
  status: "succeeded" | "failed" | "timed_out" | "cancelled";
  content: string;
  /** Images and documents the model gets as the result; `content` then describes them. */
  blocks?: ToolResultBlock[];
  /** From the request to the outcome. */
  ms: number;
}

/** Who may share a worker, and how many calls it runs at once. */
export interface ReuseTerms {
  /** Calls with the same key may share a worker. */
  key: string;
  concurrency: number;
}

/** What an executor needs to know to have a worker ready before a call's input is complete. */
export type CallPreview = Pick<
  ToolCallRequest,
  "moduleUrl" | "permissions" | "limits" | "isolationKey" | "reuse"
>;

/** How calls are isolated: in tool host processes, or in Web Workers of this process. */
export type Isolation = "process" | "worker";

/**
 * Loads and runs tool calls. `run` never rejects: every failure is an
 * outcome the model can read. `describe` runs a tool module's top level
 * where its calls would run, so loading a hostile module is contained too.
 *
 * @example
 * ```ts ignore
 * await using executor = new WorkerExecutor();
 * const outcome = await executor.run(request);
 * ```
 */
export interface ToolExecutor extends AsyncDisposable {
  readonly isolation: Isolation;
  run(request: ToolCallRequest): Promise<ToolCallOutcome>;
  /**
   * A call like `preview` is coming (the model has named its tool, its input
   * still streams): a worker for it may start now, off the call's path.
   */
  prepare(preview: CallPreview): void;
  /**
   * These tools will be offered to the model: what their first calls need
   * besides a worker (a tool host process) may start now.
   */
  offer(tools: CallPreview[]): void;
  /**
   * What the module at `moduleUrl` says of its tool, not yet validated;
   * rejects with a message naming what went wrong.
   */
  describe(moduleUrl: string): Promise<unknown>;
}
