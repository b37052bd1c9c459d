/**
 * Claude through the official SDK: streamed when the caller watches the
 * answer arrive, else in one piece.
 *
 * @module
 */
import Anthropic from "@anthropic-ai/sdk";
import { type Model, type ModelCallOptions, ModelError, type ModelRequest } from "./model.ts";

/** Model used when neither `--model` nor `AGENT_MODEL` names one. */
export const DEFAULT_MODEL = "claude-sonnet-5-5";

/**
 * The most output a call asks for and still gets in one piece: the SDK
 * insists on streaming beyond it, lest the answer outlast its 10-minute
 * timeout for unstreamed calls (8,192 for some models).
 */
const MAX_UNSTREAMED_TOKENS = 8192;

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
  readonly #client: Anthropic;

  constructor(options: { apiKey: string; baseURL?: string; maxRetries?: number }) {
    this.#client = new Anthropic({
      apiKey: options.apiKey,
      baseURL: options.baseURL,
      maxRetries: options.maxRetries ?? 2,
      // The runtime traces each model call itself (src/tracing.ts), as a child of its turn.
      openTelemetry: false,
    });
  }

  async createMessage(
    request: ModelRequest,
    options: ModelCallOptions = {},
  ): Promise<Anthropic.Message> {
    const params = {
      model: request.model,
      max_tokens: request.maxTokens,
      messages: request.messages,
      ...(request.system ? { system: request.system } : {}),
      ...(request.tools.length > 0 ? { tools: request.tools } : {}),
    };
    try {
      const watched = options.onText !== undefined || options.onToolUse !== undefined;
      if (!watched && request.maxTokens <= MAX_UNSTREAMED_TOKENS) {
        return await this.#client.messages.create(params, { signal: options.signal });
      }
      const stream = this.#client.messages.stream(params, { signal: options.signal });
      if (options.onText) stream.on("text", options.onText);
      const { onToolUse } = options;
      if (onToolUse) {
        stream.on("streamEvent", (event) => {
          if (event.type === "content_block_start" && event.content_block.type === "tool_use") {
            onToolUse(event.content_block.name);
          }
        });
      }
      return await stream.finalMessage();
    } catch (error) {
      throw toModelError(error);
    }
  }
}

function toModelError(error: unknown): ModelError {
  if (error instanceof Anthropic.APIUserAbortError) {
    return new ModelError("cancelled", "The model call was cancelled.");
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
