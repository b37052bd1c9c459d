/**
 * What the supervisor needs of a model: one Messages API call, streamed.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import type { Effort } from "./thinking.ts";

/** One request to the model, in Messages API terms. */
export interface ModelRequest {
  model: string;
  system?: string;
  messages: Anthropic.MessageParam[];
  /** The catalog's tools, then the server tools (which run at Anthropic). */
  tools: Anthropic.ToolUnion[];
  maxTokens: number;
  /**
   * A request to summarize the history for compaction: its last user block
   * is the runtime's prompt to summarize. A model that offers its own
   * compaction may use it instead, and reply with its `compaction` block.
   */
  compact?: boolean;
  /** Extended thinking, as the API takes it; none when absent. */
  thinking?: Anthropic.ThinkingConfigParam;
  /** `output_config.effort`; the model's default when absent. */
  effort?: Effort;
}

/**
 * Callbacks and cancellation for one model call. A model may answer a call
 * given neither callback in one piece, without streaming.
 */
export interface ModelCallOptions {
  /** Called with each piece of assistant text as it is generated. */
  onText?: (text: string) => void;
  /** Called with each piece of the model's thinking as it is generated. */
  onThinking?: (text: string) => void;
  /** Called when the model starts a `tool_use` block, with its tool's name, before its input streams. */
  onToolUse?: (name: string) => void;
  signal?: AbortSignal;
  /**
   * Called when a reply cut short (a stalled stream, a dropped connection)
   * is asked for again: the attempt about to start (2, 3…) and why. Text
   * already streamed by the cut attempt comes again from the start.
   */
  onRetry?: (attempt: number, reason: string) => void;
}

/** A model: the real Claude API, or the built-in offline model. */
export interface Model {
  /** Shown to the user, e.g. "claude-sonnet-5-5" or "offline demo model". */
  readonly label: string;
  /**
   * Who answers, as traces name it (`gen_ai.provider.name`): "anthropic",
   * or "offline" for the built-in stand-in, which also answers for any model name.
   */
  readonly provider: "anthropic" | "offline";
  /** Resolves with the complete assistant message; rejects with a {@linkcode ModelError}. */
  createMessage(request: ModelRequest, options?: ModelCallOptions): Promise<Anthropic.Message>;
}

/**
 * A final failure of a model call (after the SDK's own retries), carrying
 * the API's error type and message.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ModelError } from "./model.ts";
 * const error = new ModelError("authentication_error", "invalid x-api-key", 401);
 * assertEquals([error.type, error.message, error.status], ["authentication_error", "invalid x-api-key", 401]);
 * ```
 */
export class ModelError extends Error {
  override name = "ModelError";
  constructor(readonly type: string, message: string, readonly status?: number) {
    super(message);
  }
}
