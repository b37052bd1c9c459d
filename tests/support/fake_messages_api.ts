/**
 * A fake of the Anthropic Messages API on a loopback port, speaking its wire
 * format (JSON and server-sent events, errors as `{type: "error", error}`),
 * so tests drive the real SDK against scripted model turns.
 *
 * Like the real API, it rejects a history in which a `tool_use` is not
 * answered by a `tool_result` in the next message.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";

/** One scripted reply: an assistant message, or an API error. */
export type FakeReply =
  | {
    /** A thinking block first, signed by the fake, as with `thinking` on. */
    thinking?: string;
    text?: string;
    toolCalls?: { name: string; input: unknown; id?: string }[];
    stopReason?: Anthropic.StopReason;
    /** Pause between streamed events, to make streaming observable. */
    eventDelayMs?: number;
    /** During each pause, a `ping` this often, as the API sends while a reply is slow. */
    pingEveryMs?: number;
    /** Token counts; default 10 in, 10 out. */
    usage?: Partial<Anthropic.Usage>;
    /** The reply's blocks as they are, instead of `text` and `toolCalls` (any block, even a malformed one). */
    content?: Anthropic.ContentBlock[];
    /** With `stopReason: "refusal"`: why, as the API says it. */
    stopDetails?: Anthropic.RefusalStopDetails;
    /**
     * Streamed, the last tool call's input stops after this many characters of
     * its JSON, as when `max_tokens` cuts it (give `stopReason: "max_tokens"`).
     */
    cutToolInputAt?: number;
    /** Streamed: after `message_start` and a `ping`, nothing more; unstreamed: no answer at all. */
    stall?: boolean;
    /** Streamed: the connection is cut after this many events. */
    dropAfterEvents?: number;
  }
  | { status: number; errorType: string; message: string; headers?: Record<string, string> };

/** A request as the fake received it. */
export interface RecordedRequest {
  body: Anthropic.MessageCreateParams;
  headers: Headers;
}

/** Picks the reply to the `index`-th request (0-based). */
export type FakeScript = (
  request: RecordedRequest,
  index: number,
) => FakeReply | Promise<FakeReply>;

/** A running fake. */
export interface FakeMessagesApi extends AsyncDisposable {
  /** Base URL for the SDK's `baseURL` / `ANTHROPIC_BASE_URL`. */
  url: string;
  /** Every request received, in order (including rejected ones). */
  requests: RecordedRequest[];
}

/**
 * Starts the fake. Replies come from `script`: a function, or a list used in order.
 *
 * @example
 * ```ts ignore
 * await using api = startFakeMessagesApi([{ text: "Hello!" }]);
 * const model = new AnthropicModel({ apiKey: "test-key", baseURL: api.url });
 * ```
 */
export function startFakeMessagesApi(
  script: FakeScript | FakeReply[],
  { contextWindow, compaction = true, promptCache }: {
    /**
     * A context window, in tokens (4 characters of the request's JSON a
     * token): a larger request is refused with the API's 400 "prompt is too
     * long", and every reply's `input_tokens` is its request's count.
     */
    contextWindow?: number;
    /**
     * Whether it offers Claude's own compaction (beta `compact-2026-09-04`):
     * a request with `compaction: {type: "summarize"}` is answered, not by the
     * script, with one signed `compaction` block, which later requests must
     * send back unchanged, first. Default true; false refuses the parameter
     * with a 400, as for a model without it.
     */
    compaction?: boolean;
    /**
     * Prompt caching as the API does it: the prefix up to each `cache_control`
     * breakpoint (on a block, or top-level for the request's last block) is
     * written to a cache for its TTL, if it is at least `minTokens` (default
     * 1024) long; a later request reads the longest cached prefix that ends
     * at one of its breakpoints or up to 20 blocks before one. Replies then
     * count `input_tokens` (4 characters of JSON a token),
     * `cache_read_input_tokens` and `cache_creation_input_tokens`.
     */
    promptCache?: { minTokens?: number };
  } = {},
): FakeMessagesApi {
  const cache = promptCache && new PromptCache(promptCache.minTokens ?? 1024);
  const requests: RecordedRequest[] = [];
  /** The compaction blocks issued, by their `encrypted_content`. */
  const issued = new Map<string, CompactionBlock>();
  /** The thinking the fake sent, by its signature. */
  const thoughts = new Map<string, string>();
  /** Aborted on dispose: a reply that never comes ends then (a client's abort may not reach it). */
  const closing = new AbortController();
  const pick: FakeScript = Array.isArray(script)
    ? (_, i) =>
      script[i] ??
        { status: 500, errorType: "api_error", message: `the script has no reply #${i + 1}` }
    : script;
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
      // A connection the script cuts on purpose is not an error of the fake's.
      onError: (error) => {
        if (!(error instanceof ConnectionCut)) console.error(error);
        return new Response(null, { status: 500 });
      },
    },
    async (request) => {
      const url = new URL(request.url);
      if (request.method !== "POST" || url.pathname !== "/v1/messages") {
        return apiError(404, "not_found_error", `Not found: ${request.method} ${url.pathname}`);
      }
      const raw = await request.text();
      if (raw.length > MAX_REQUEST_BYTES) {
        requests.push({ body: undefined as never, headers: request.headers });
        return apiError(413, "request_too_large", "Request exceeds the maximum size");
      }
      const body = (() => {
        try {
          return JSON.parse(raw);
        } catch {
          return undefined;
        }
      })();
      const recorded = { body, headers: request.headers };
      requests.push(recorded);
      if (
        !request.headers.get("x-api-key") &&
        !/^Bearer \S+$/.test(request.headers.get("authorization") ?? "")
      ) {
        return apiError(
          401,
          "authentication_error",
          "x-api-key or authorization header is required",
        );
      }
      if (!request.headers.get("anthropic-version")) {
        return apiError(400, "invalid_request_error", "anthropic-version header is required");
      }
      const invalid = validateRequest(body, issued) ??
        compactionRefusal(body, request.headers, compaction) ?? breakpointRefusal(body) ??
        thinkingRefusal(body, thoughts);
      if (invalid) return apiError(400, "invalid_request_error", invalid);
      const tokens = contextWindow ? tokensOf(body) : undefined;
      if (contextWindow && tokens! > contextWindow) {
        const message = `prompt is too long: ${tokens} tokens > ${contextWindow} maximum`;
        return apiError(400, "invalid_request_error", message);
      }
      if (body.compaction) {
        const summary = summarized(body, requests.length, tokens);
        issued.set(summary.block.encrypted_content!, summary.block);
        return body.stream ? streamed(summary.message, {}) : Response.json(summary.message);
      }
      const picked = await pick(recorded, requests.length - 1);
      const cached = cache?.take(body);
      const reply = (tokens || cached) && !("status" in picked)
        ? { ...picked, usage: { input_tokens: tokens, ...cached, ...picked.usage } }
        : picked;
      if ("status" in reply) {
        return apiError(
          reply.status,
          reply.errorType,
          reply.message,
          reply.headers,
        );
      }
      const message = toMessage(reply, body.model, requests.length);
      for (const block of message.content) {
        if (block.type === "thinking") thoughts.set(block.signature, block.thinking);
      }
      if (reply.stall && !body.stream) {
        return await never(closing.signal);
      }
      return body.stream ? streamed(message, reply) : Response.json(message);
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    [Symbol.asyncDispose]: () => {
      closing.abort();
      return server.shutdown();
    },
  };
}

/** A request's size in tokens, as the fake counts them: 4 characters of its JSON each. */
function tokensOf(body: Anthropic.MessageCreateParams): number {
  const { system, messages, tools } = body;
  return Math.ceil(JSON.stringify({ system, messages, tools }).length / 4);
}

function apiError(
  status: number,
  type: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return Response.json({ type: "error", error: { type, message } }, {
    status,
    headers: { "request-id": `req_fake_${crypto.randomUUID()}`, ...headers },
  });
}

/** The server tools the fake knows, by their type's prefix. */
const SERVER_TOOL_TYPES = ["web_search_", "web_fetch_", "code_execution_"];

/** Claude's own summary of a history, as the fake issues it. */
type CompactionBlock = Anthropic.Beta.BetaCompactionBlock;

function validateRequest(
  body: Anthropic.MessageCreateParams | undefined,
  issued: Map<string, CompactionBlock>,
): string | undefined {
  if (!body || typeof body !== "object") return "The request body is not valid JSON.";
  if (typeof body.model !== "string") return "model: Field required";
  if (typeof body.max_tokens !== "number") return "max_tokens: Field required";
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return "messages: at least one message is required";
  }
  for (const [i, tool] of (body.tools ?? []).entries()) {
    const type = (tool as { type?: string }).type;
    if (!("input_schema" in tool) && !SERVER_TOOL_TYPES.some((known) => type?.startsWith(known))) {
      return `tools.${i}: unknown tool type "${type}"`;
    }
  }
  const [first] = body.messages;
  const compacted = Array.isArray(first.content) &&
    (first.content as { type: string }[]).some((block) => block.type === "compaction");
  if (compacted) {
    const block = (first.content as unknown as CompactionBlock[])[0];
    const original = issued.get(block.encrypted_content ?? "");
    if (first.role !== "assistant" || first.content.length !== 1 || !original) {
      return "messages.0: a compaction block goes first, alone, as the assistant's";
    }
    if (canonical(block) !== canonical(original)) {
      return "messages.0.content.0: the compaction block was altered; send it back exactly as it came";
    }
  } else if (first.role !== "user") {
    return 'messages.0.role: the first message must use the "user" role';
  }
  for (const [i, message] of body.messages.entries()) {
    if (Array.isArray(message.content) && message.content.length === 0) {
      return `messages.${i}: all messages must have non-empty content`;
    }
    if (message.role !== "assistant" || typeof message.content === "string") continue;
    const ids = message.content.flatMap((block) => block.type === "tool_use" ? [block.id] : []);
    if (ids.length === 0) continue;
    const next = body.messages[i + 1]?.content;
    const answered = new Set(
      Array.isArray(next)
        ? next.flatMap((block) => block.type === "tool_result" ? [block.tool_use_id] : [])
        : [],
    );
    const missing = ids.filter((id) => !answered.has(id));
    if (missing.length > 0) {
      return `messages.${
        i + 1
      }: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${
        missing.join(", ")
      }. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
    }
  }
  return undefined;
}

/** The pieces of a request in the order the cache reads them: tools, system, then each message's blocks. */
function promptBlocks(body: Anthropic.MessageCreateParams): Record<string, unknown>[] {
  const system = typeof body.system === "string"
    ? [{ type: "text", text: body.system }]
    : body.system ?? [];
  const messages = body.messages.flatMap(({ role, content }) =>
    (typeof content === "string" ? [{ type: "text", text: content }] : content).map((block) => ({
      role,
      ...block,
    }))
  );
  return [...(body.tools ?? []), ...system, ...messages] as Record<string, unknown>[];
}

/** The API allows four breakpoints in a request, the top-level one included. */
function breakpointRefusal(body: Anthropic.MessageCreateParams): string | undefined {
  const count = promptBlocks(body).filter((block) => block.cache_control).length +
    ("cache_control" in body && body.cache_control ? 1 : 0);
  return count > 4
    ? `A maximum of 4 blocks with cache_control may be provided. Found ${count}.`
    : undefined;
}

/** The fake's prompt cache: prefixes, by a hash of their JSON, until they expire. */
class PromptCache {
  readonly #expiry = new Map<string, number>();
  constructor(readonly minTokens: number) {}

  /** Reads and writes the cache for a request; the usage its reply reports. */
  take(body: Anthropic.MessageCreateParams): Partial<Anthropic.Usage> {
    const blocks = promptBlocks(body);
    const ends: { key: string; tokens: number; ttl?: string }[] = [];
    let text = "";
    for (const { cache_control: _, ...block } of blocks) {
      text += JSON.stringify(block);
      ends.push({ key: hashOf(text), tokens: Math.ceil(text.length / 4) });
    }
    const breakpoints = blocks.flatMap((block, i) =>
      block.cache_control ? [{ at: i, ttl: (block.cache_control as { ttl?: string }).ttl }] : []
    );
    const topLevel = "cache_control" in body ? body.cache_control : undefined;
    if (topLevel) breakpoints.push({ at: blocks.length - 1, ttl: topLevel.ttl ?? undefined });
    const now = Date.now();
    const hit = Math.max(
      -1,
      ...breakpoints.flatMap(({ at }) =>
        [...Array(Math.min(20, at + 1)).keys()].map((back) => at - back)
          .filter((i) => (this.#expiry.get(ends[i].key) ?? 0) > now)
      ),
    );
    const read = hit >= 0 ? ends[hit].tokens : 0;
    let written = read;
    for (const { at, ttl } of breakpoints) {
      if (ends[at].tokens < this.minTokens) continue;
      this.#expiry.set(ends[at].key, now + (ttl === "1h" ? 3_600_000 : 300_000));
      written = Math.max(written, ends[at].tokens);
    }
    if (hit >= 0) this.#expiry.set(ends[hit].key, now + 300_000);
    const total = ends.at(-1)?.tokens ?? 0;
    return {
      input_tokens: total - written,
      cache_read_input_tokens: read,
      cache_creation_input_tokens: written - read,
    };
  }
}

/** A 53-bit hash of a string (cyrb53): the cache's key for a prefix. */
function hashOf(text: string): string {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36) + `:${text.length}`;
}

/** A block's JSON with its keys in order: the same block, however its fields were assembled. */
function canonical(block: CompactionBlock): string {
  return JSON.stringify(Object.entries(block).sort(([a], [b]) => a.localeCompare(b)));
}

/** Why the request's `compaction` parameter is refused, if it is. */
function compactionRefusal(
  body: Anthropic.MessageCreateParams,
  headers: Headers,
  offered: boolean,
): string | undefined {
  if (!("compaction" in body)) return undefined;
  if (!offered) return "compaction: Extra inputs are not permitted";
  if (!headers.get("anthropic-beta")?.split(",").includes("compact-2026-09-04")) {
    return "compaction: requires the compact-2026-09-04 beta";
  }
  return undefined;
}

/** The reply to a compaction request: one signed block summarizing the messages sent. */
function summarized(
  body: Anthropic.MessageCreateParams,
  n: number,
  tokens: number | undefined,
): { block: CompactionBlock; message: Anthropic.Message } {
  const block: CompactionBlock = {
    type: "compaction",
    content: `Summary #${n} of ${body.messages.length} messages.`,
    encrypted_content: `enc_${crypto.randomUUID()}`,
    signature: `sig_${crypto.randomUUID()}`,
  };
  const message = toMessage(
    {
      content: [block as unknown as Anthropic.ContentBlock],
      stopReason: "compaction" as Anthropic.StopReason,
      usage: { input_tokens: tokens ?? 10 },
    },
    body.model,
    n,
  );
  return { block, message };
}

/**
 * What the API says to a request with thinking on whose last assistant
 * message asked for tools without its thinking first, or with thinking
 * changed from what was signed.
 */
function thinkingRefusal(
  body: Anthropic.MessageCreateParams,
  thoughts: Map<string, string>,
): string | undefined {
  for (const [i, { role, content }] of body.messages.entries()) {
    if (role !== "assistant" || typeof content === "string") continue;
    for (const block of content) {
      if (block.type === "thinking" && thoughts.get(block.signature) !== block.thinking) {
        return `messages.${i}.content: Invalid \`signature\` in \`thinking\` block`;
      }
    }
  }
  const thinkingOn = body.thinking && body.thinking.type !== "disabled";
  const lastAssistant = body.messages.findLast((message) => message.role === "assistant");
  const content = Array.isArray(lastAssistant?.content) ? lastAssistant.content : [];
  if (!thinkingOn || !content.some((block) => block.type === "tool_use")) return undefined;
  const first = content[0]?.type;
  if (first === "thinking" || first === "redacted_thinking") return undefined;
  return `messages: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks).`;
}

function toMessage(
  reply: Extract<FakeReply, { text?: string }>,
  model: string,
  n: number,
): Anthropic.Message {
  const content: Anthropic.ContentBlock[] = reply.content ? [...reply.content] : [];
  if (reply.thinking) {
    const signature = `sig_${crypto.randomUUID()}`;
    content.unshift({ type: "thinking", thinking: reply.thinking, signature });
  }
  if (reply.text) content.push({ type: "text", text: reply.text, citations: null });
  for (const [i, call] of (reply.toolCalls ?? []).entries()) {
    content.push(
      {
        type: "tool_use",
        id: call.id ?? `toolu_fake_${n}_${i}`,
        name: call.name,
        input: call.input,
      } as Anthropic.ToolUseBlock,
    );
  }
  return {
    id: `msg_fake_${n}`,
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: reply.stopReason ?? (reply.toolCalls?.length ? "tool_use" : "end_turn"),
    stop_sequence: null,
    stop_details: reply.stopDetails ?? null,
    usage: { input_tokens: 10, output_tokens: 10, ...reply.usage },
  } as Anthropic.Message;
}

/** The API's limit on a request's size (32 MB); a larger one gets 413 `request_too_large`. */
const MAX_REQUEST_BYTES = 32_000_000;

/** How a script's `dropAfterEvents` cuts the connection. */
class ConnectionCut extends Error {
  override name = "ConnectionCut";
}

/** A response that never comes; it ends when the client gives up. */
function never(signal: AbortSignal): Promise<Response> {
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(new Response(null, { status: 499 })))
  );
}

/** The event sequence of the real API's streaming responses. */
function streamed(
  message: Anthropic.Message,
  { eventDelayMs: delayMs = 0, pingEveryMs, cutToolInputAt, stall, dropAfterEvents }: Extract<
    FakeReply,
    { text?: string }
  >,
): Response {
  const lastToolUse = message.content.findLastIndex((block) => block.type === "tool_use");
  const events: Record<string, unknown>[] = [
    {
      type: "message_start",
      message: {
        ...message,
        content: [],
        stop_reason: null,
        usage: { ...message.usage, output_tokens: 1 },
      },
    },
    { type: "ping" },
  ];
  message.content.forEach((block, index) => {
    if (block.type === "text") {
      events.push({
        type: "content_block_start",
        index,
        content_block: { type: "text", text: "" },
      });
      for (const piece of chunks(block.text, 7)) {
        events.push({
          type: "content_block_delta",
          index,
          delta: { type: "text_delta", text: piece },
        });
      }
    } else if (block.type === "tool_use") {
      events.push({ type: "content_block_start", index, content_block: { ...block, input: {} } });
      const json = JSON.stringify(block.input);
      const sent = index === lastToolUse ? json.slice(0, cutToolInputAt) : json;
      for (const piece of chunks(sent, 11)) {
        events.push({
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json: piece },
        });
      }
    } else if (block.type === "thinking") {
      events.push({
        type: "content_block_start",
        index,
        content_block: { type: "thinking", thinking: "", signature: "" },
      });
      for (const piece of chunks(block.thinking, 9)) {
        events.push({
          type: "content_block_delta",
          index,
          delta: { type: "thinking_delta", thinking: piece },
        });
      }
      events.push({
        type: "content_block_delta",
        index,
        delta: { type: "signature_delta", signature: block.signature },
      });
    } else if ((block as { type: string }).type === "compaction") {
      // Its start holds neither summary nor metadata: one compaction_delta brings both.
      const { content, encrypted_content, ...start } = block as unknown as CompactionBlock;
      events.push(
        {
          type: "content_block_start",
          index,
          content_block: { ...start, content: null, encrypted_content: null },
        },
        {
          type: "content_block_delta",
          index,
          delta: { type: "compaction_delta", content, encrypted_content },
        },
      );
    } else {
      // Any other block (thinking, server tools…) arrives whole in its start event.
      events.push({ type: "content_block_start", index, content_block: block });
    }
    events.push({ type: "content_block_stop", index });
  });
  events.push(
    {
      type: "message_delta",
      delta: {
        stop_reason: message.stop_reason,
        stop_sequence: null,
        stop_details: message.stop_details,
      },
      usage: { output_tokens: message.usage.output_tokens },
    },
    { type: "message_stop" },
  );
  if (stall) events.splice(2);
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (event: Record<string, unknown>) =>
        controller.enqueue(
          encoder.encode(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`),
        );
      const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      for (const [n, event] of events.entries()) {
        if (n === dropAfterEvents) return controller.error(new ConnectionCut());
        send(event);
        for (let waited = 0; waited < delayMs; waited += pingEveryMs ?? delayMs) {
          await pause(Math.min(pingEveryMs ?? delayMs, delayMs - waited));
          if (pingEveryMs) send({ type: "ping" });
        }
      }
      if (!stall) controller.close(); // a stalled stream stays open until the client leaves
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}

function chunks(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces.length > 0 ? pieces : [""];
}

/** A request's system prompt as text, whether it came as a string or as text blocks. */
export function systemOf(request: RecordedRequest): string | undefined {
  const { system } = request.body;
  return typeof system === "string" || system === undefined
    ? system
    : system.map((block) => block.text).join("");
}
