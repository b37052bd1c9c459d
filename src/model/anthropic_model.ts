/**
 * Claude through the official SDK: streamed when the caller watches the
 * answer arrive, else in one piece.
 *
 * @module
 */
import Anthropic from "@anthropic-ai/sdk";
import { type Model, type ModelCallOptions, ModelError, type ModelRequest } from "./model.ts";
import { idleGuardedFetch, StreamStalled } from "./stream_guard.ts";
import { FollowingController } from "../_following_controller.ts";
import { delay } from "@std/async/delay";
import { COMPACT_BETA, isTooLong, withoutSummaryPrompt } from "./compaction.ts";

/** Model used when neither `--model` nor `AGENT_MODEL` names one. */
export const DEFAULT_MODEL = "claude-sonnet-5-5";

/**
 * The most output a call asks for and still gets in one piece: the SDK
 * insists on streaming beyond it, lest the answer outlast its 10-minute
 * timeout for unstreamed calls (8,192 for some models).
 */
const MAX_UNSTREAMED_TOKENS = 8192;

/** How long a response may send nothing (the API pings a slow one) before it counts as stalled. */
export const MODEL_IDLE_TIMEOUT_MS = 60_000;

/** The most one attempt of a model call may take, from the request to the reply's last byte. */
export const MODEL_CALL_TIMEOUT_MS = 600_000;

/** What {@linkcode AnthropicModel} is built with. */
export interface AnthropicModelOptions {
  apiKey: string;
  baseURL?: string;
  /** Retries of a failed request (the SDK's) and of a reply cut short (ours). Default 2. */
  maxRetries?: number;
  /** Default {@linkcode MODEL_IDLE_TIMEOUT_MS} (`AGENT_MODEL_IDLE_TIMEOUT_MS`). */
  idleTimeoutMs?: number;
  /** Default {@linkcode MODEL_CALL_TIMEOUT_MS} (`AGENT_MODEL_TIMEOUT_MS`). */
  callTimeoutMs?: number;
  /**
   * `"clear_tool_uses"`: the API clears old tool results from what the
   * model reads once the context grows (context editing, the
   * `clear_tool_uses_20250919` edit, beta `context-management-2025-06-27`).
   * The journal and what is sent keep them. Default `"off"`.
   */
  contextEditing?: "clear_tool_uses" | "off";
  /**
   * Prompt caching: `"5m"` (the default) or `"1h"`, the cache's time to
   * live; `"off"` sends no breakpoint. See {@linkcode withCacheBreakpoints}.
   */
  promptCache?: "5m" | "1h" | "off";
}

/** What a request carries when the API is to clear old tool results. */
const CLEAR_TOOL_USES = {
  betas: ["context-management-2025-06-27"],
  context_management: { edits: [{ type: "clear_tool_uses_20250919" as const }] },
};

/**
 * The Messages API through `@anthropic-ai/sdk`, keeping its retries (429,
 * 5xx, 529 with backoff and `retry-after`).
 *
 * @example
 * ```ts ignore
 * const model = new AnthropicModel({ apiKey: "sk-ant-…" });
 * const message = await model.createMessage({
 *   model: DEFAULT_MODEL,
 *   maxTokens: 1024,
 *   messages: [{ role: "user", content: "Hello" }],
 *   tools: [],
 * }, { onText: (text) => console.log(text) });
 * ```
 */
export class AnthropicModel implements Model {
  readonly label = "Claude";
  readonly provider = "anthropic";
  readonly #client: Anthropic;
  readonly #retries: number;
  readonly #callTimeoutMs: number;

  /** Models the API refused Claude's own compaction for: their histories are summarized by a prompt. */
  readonly #noCompaction = new Set<string>();
  readonly #contextEditing: boolean;
  readonly #promptCache: "5m" | "1h" | undefined;

  constructor(options: AnthropicModelOptions) {
    this.#retries = options.maxRetries ?? 2;
    this.#callTimeoutMs = options.callTimeoutMs ?? MODEL_CALL_TIMEOUT_MS;
    this.#contextEditing = options.contextEditing === "clear_tool_uses";
    const cache = options.promptCache ?? "5m";
    this.#promptCache = cache === "off" ? undefined : cache;
    this.#client = new Anthropic({
      apiKey: options.apiKey,
      baseURL: options.baseURL,
      maxRetries: this.#retries,
      // The SDK's timeout ends only the wait for headers, and is retried by it: the call's
      // own limit (below) comes first, and a stalled body ends by the idle guard.
      timeout: this.#callTimeoutMs + 5_000,
      fetch: idleGuardedFetch(options.idleTimeoutMs ?? MODEL_IDLE_TIMEOUT_MS),
      // The runtime traces each model call itself (src/tracing.ts), as a child of its turn.
      openTelemetry: false,
    });
  }

  /**
   * The reply, asked for again (with the SDK's backoff) when it was cut
   * short: its response stalled, its connection dropped, or the attempt
   * ran out of time. The SDK retries only failures before a response begins.
   */
  async createMessage(
    request: ModelRequest,
    options: ModelCallOptions = {},
  ): Promise<Anthropic.Message> {
    if (!request.compact || this.#noCompaction.has(request.model)) {
      return await this.#withRetries({ ...request, compact: false }, options);
    }
    try {
      return await this.#withRetries(request, options);
    } catch (error) {
      // Claude's own compaction is a beta: where the API refuses it, the prompt summarizes.
      if (!(error instanceof ModelError) || error.status !== 400 || isTooLong(error)) throw error;
      this.#noCompaction.add(request.model);
      return await this.#withRetries({ ...request, compact: false }, options);
    }
  }

  async #withRetries(
    request: ModelRequest,
    options: ModelCallOptions,
  ): Promise<Anthropic.Message> {
    for (let attempt = 1;; attempt++) {
      // A timer of its own, cleared when the attempt ends (AbortSignal.timeout's would
      // outlive every call by minutes), and the caller's signal followed until then.
      // (Through AbortSignal.any, the request hung on it survived to the old
      // generation, tripling what the turns benchmark promoted.)
      using limit = new FollowingController(options.signal);
      const timer = setTimeout(() => limit.abort(), this.#callTimeoutMs);
      try {
        return await this.#createOnce(request, options, limit.signal);
      } catch (error) {
        const outOfTime = limit.signal.aborted && !options.signal?.aborted;
        const failure = outOfTime
          ? new ModelError(
            "timeout",
            `The model did not answer within ${this.#callTimeoutMs} ms (AGENT_MODEL_TIMEOUT_MS).`,
          )
          : toModelError(error);
        // What failed before a response began, the SDK has retried already.
        const cutShort = outOfTime || isStalled(error) || isDropped(error);
        if (!cutShort || attempt > this.#retries || options.signal?.aborted) throw failure;
        options.onRetry?.(attempt + 1, failure.message);
        await delay(retryDelayMs(attempt), { signal: options.signal }).catch(() => {});
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /**
   * One attempt, ended by `signal`: the caller's stop or the attempt's
   * limit (a reply that pings forever ends as well).
   */
  #createOnce(
    request: ModelRequest,
    options: ModelCallOptions,
    signal: AbortSignal,
  ): Promise<Anthropic.Message> {
    const params = withCacheBreakpoints({
      model: request.model,
      max_tokens: request.maxTokens,
      messages: request.messages,
      ...(request.system ? { system: request.system } : {}),
      ...(request.tools.length > 0 ? { tools: request.tools } : {}),
      ...(request.thinking && !request.compact ? { thinking: request.thinking } : {}),
      ...(request.effort ? { output_config: { effort: request.effort } } : {}),
    }, this.#promptCache);
    if (request.compact) {
      // Streamed: a long history takes a while to summarize, and pings show it is under way.
      const compaction = this.#client.beta.messages.stream({
        ...params,
        messages: withoutSummaryPrompt(request).messages as Anthropic.Beta.BetaMessageParam[],
        compaction: { type: "summarize" },
        betas: [COMPACT_BETA],
      }, { signal });
      return compaction.finalMessage() as Promise<unknown> as Promise<Anthropic.Message>;
    }
    const watched = options.onText !== undefined || options.onToolUse !== undefined ||
      options.onThinking !== undefined;
    const { messages, beta } = this.#client;
    if (!watched && request.maxTokens <= MAX_UNSTREAMED_TOKENS) {
      return this.#contextEditing
        ? beta.messages.create({ ...params, ...CLEAR_TOOL_USES } as never, { signal }) as never
        : messages.create(params, { signal });
    }
    // The beta stream emits the same events, and its message has the same blocks.
    const stream = this.#contextEditing
      ? beta.messages.stream({ ...params, ...CLEAR_TOOL_USES } as never, { signal }) as never
      : messages.stream(params, { signal });
    if (options.onText) stream.on("text", options.onText);
    const { onThinking } = options;
    if (onThinking) stream.on("thinking", (delta) => onThinking(delta));
    const { onToolUse } = options;
    if (onToolUse) {
      stream.on("streamEvent", (event) => {
        if (event.type === "content_block_start" && event.content_block.type === "tool_use") {
          onToolUse(event.content_block.name);
        }
      });
    }
    return stream.finalMessage();
  }
}

/**
 * A request with prompt-cache breakpoints where they pay: the last tool
 * (the tools are the same for every conversation with the catalog), the
 * system prompt (the same for every conversation with it), and the end of
 * the history through the top-level `cache_control`, which rolls forward
 * with each step so that each request reads what the one before wrote.
 * Three of the API's four; a prefix under the model's minimum is simply
 * not cached, at no cost. `ttl` undefined: the request as it is.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { withCacheBreakpoints } from "./anthropic_model.ts";
 * const params = withCacheBreakpoints(
 *   { model: "claude-x", max_tokens: 10, system: "Be brief.", messages: [{ role: "user", content: "Hi" }] },
 *   "5m",
 * );
 * assertEquals(params.cache_control, { type: "ephemeral", ttl: "5m" });
 * assertEquals(params.system, [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral", ttl: "5m" } }]);
 * ```
 */
export function withCacheBreakpoints(
  params: Anthropic.MessageCreateParamsNonStreaming & { system?: string },
  ttl: "5m" | "1h" | undefined,
): Anthropic.MessageCreateParamsNonStreaming {
  if (!ttl) return params;
  const cache_control: Anthropic.CacheControlEphemeral = { type: "ephemeral", ttl };
  const { system, tools } = params;
  return {
    ...params,
    cache_control,
    ...(system ? { system: [{ type: "text" as const, text: system, cache_control }] } : {}),
    ...(tools?.length
      ? {
        tools: tools.map((tool, i) => i === tools.length - 1 ? { ...tool, cache_control } : tool),
      }
      : {}),
  };
}

/** The SDK's own backoff: 0.5 s, then 1 s, … up to 8 s, each with up to a quarter off. */
function retryDelayMs(attempt: number): number {
  return Math.min(500 * 2 ** (attempt - 1), 8_000) * (1 - Math.random() * 0.25);
}

function toModelError(error: unknown): ModelError {
  if (error instanceof ModelError) return error;
  if (error instanceof Anthropic.APIUserAbortError) {
    return new ModelError("cancelled", "The model call was cancelled.");
  }
  if (isStalled(error)) return new ModelError("timeout", causeOf(error).message);
  if (isDropped(error)) {
    return new ModelError(
      "connection_error",
      `The connection to the model dropped before its reply was whole: ${causeOf(error).message}.`,
    );
  }
  if (error instanceof Anthropic.APIError) {
    const body = error.error as { error?: { type?: string; message?: string } } | undefined;
    const type = body?.error?.type ??
      (error instanceof Anthropic.APIConnectionError ? "connection_error" : "api_error");
    const message = body?.error?.message ?? error.message;
    return new ModelError(type, message, error.status);
  }
  return new ModelError("api_error", error instanceof Error ? error.message : String(error));
}

/** A stream cut short surfaces as the SDK's base error, with what cut it as its cause. */
function causeOf(error: unknown): Error {
  const cause = error instanceof Error ? error.cause ?? error : error;
  return cause instanceof Error ? cause : new Error(String(cause));
}

/** The reply's response sent nothing for the idle limit. */
function isStalled(error: unknown): boolean {
  return causeOf(error) instanceof StreamStalled;
}

/** The connection dropped while the reply's body was being read. */
function isDropped(error: unknown): boolean {
  const cause = causeOf(error);
  return cause instanceof TypeError &&
    /reading a body|connection (closed|reset)/i.test(cause.message);
}
