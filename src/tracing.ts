/**
 * OpenTelemetry traces of conversations, made from their events: a span
 * per turn, and in it a span per model call and per tool call, with the
 * attributes of the OpenTelemetry GenAI conventions. They are exported by
 * whatever tracer provider is registered; Deno registers its own with
 * `OTEL_DENO=true` (OTLP, `OTEL_EXPORTER_OTLP_ENDPOINT`). With none, no
 * conversation is observed at all.
 *
 * @module
 */
import {
  type Attributes,
  context,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { ConversationEvent } from "./events.ts";
import { cacheHitRate, type TokenUsage } from "./token_usage.ts";

const SCOPE = "agent-runtime";

/**
 * Whether a tracer provider is registered (Deno's, with `OTEL_DENO=true`,
 * or one the program set up): without one, tracing costs nothing.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tracingEnabled } from "./tracing.ts";
 * assertEquals(tracingEnabled(), Deno.env.get("OTEL_DENO") === "true");
 * ```
 */
export function tracingEnabled(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) ||
    provider.getDelegateTracer(SCOPE) !== undefined;
}

/** What a conversation's traces are made from. */
export interface Traceable {
  readonly id: string;
  readonly modelName: string;
  readonly modelProvider: "anthropic" | "offline";
  subscribe(listener: (event: ConversationEvent) => void): () => void;
}

/**
 * Turns the conversation's events into spans for as long as it lives.
 *
 * @example
 * ```ts ignore
 * if (tracingEnabled()) traceConversation(supervisor);
 * ```
 */
export function traceConversation(
  conversation: Traceable,
  tracer: Tracer = trace.getTracer(SCOPE),
): void {
  const spans = new ConversationSpans(conversation, tracer);
  conversation.subscribe((event) => spans.observe(event));
}

/**
 * Names the URL a client used on the active server span (Deno's, with
 * `OTEL_DENO=true`): behind the front door, the request this process
 * serves came over its inner Unix-socket hop, which the span would name
 * (`http+unix://…`). Nothing happens untraced, or for a request that came
 * straight over TCP.
 *
 * @example
 * ```ts
 * import { nameClientUrl } from "./tracing.ts";
 * nameClientUrl(new Request("http+unix://%2Ftmp%2Fs.sock/v1/tools", { headers: { host: "127.0.0.1:8000" } }));
 * ```
 */
export function nameClientUrl(request: Request): void {
  const span = trace.getActiveSpan();
  const host = request.headers.get("host");
  if (!span || !host || !request.url.startsWith("http+unix:")) return;
  const url = new URL(request.url);
  span.setAttributes({
    "url.full": `http://${host}${url.pathname}${url.search}`,
    "url.scheme": "http",
    "server.address": host.replace(/:\d+$/, ""),
  });
}

/** The chat span of each traced conversation's model call under way. */
const modelCallSpans = new Map<string, Span>();

/**
 * Runs `call`, a model call of the conversation `conversationId`, in its
 * chat span's context, so that the HTTP request Deno traces for it is a
 * child of that span rather than of whatever request started the turn.
 * Untraced, it just runs `call`.
 *
 * @example
 * ```ts
 * import { inModelCallSpan } from "./tracing.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(inModelCallSpan("conversation-1", () => 42), 42);
 * ```
 */
export function inModelCallSpan<T>(conversationId: string, call: () => T): T {
  const span = modelCallSpans.get(conversationId);
  return span ? context.with(trace.setSpan(context.active(), span), call) : call();
}

/** The open spans of one conversation. */
class ConversationSpans {
  #turn: Span | undefined;
  #model: Span | undefined;
  /** Tool calls by call id, until the model hears of them (or their task ends). */
  readonly #calls = new Map<string, Span>();

  constructor(readonly conversation: Traceable, readonly tracer: Tracer) {}

  observe(event: ConversationEvent): void {
    switch (event.type) {
      case "turn_started":
      case "turn_resumed":
        this.#turn = this.#start(`invoke_agent ${SCOPE}`, event.at, {
          "gen_ai.operation.name": "invoke_agent",
          "gen_ai.agent.name": SCOPE,
          "agent_runtime.turn": event.turn,
          ...(event.type === "turn_started" && event.taskId
            ? { "agent_runtime.task_id": event.taskId }
            : {}),
        });
        return;
      case "model_call_started":
        this.#model = this.#start(`chat ${this.#modelName}`, event.at, {
          "gen_ai.operation.name": "chat",
          "gen_ai.provider.name": this.conversation.modelProvider,
          "gen_ai.request.model": this.#modelName,
          "agent_runtime.step": event.step,
        }, SpanKind.CLIENT);
        modelCallSpans.set(this.conversation.id, this.#model);
        return;
      case "model_call_finished":
        this.#model?.setAttributes({
          ...usageAttributes(event.usage),
          "gen_ai.response.finish_reasons": [event.stopReason],
        });
        this.#endModelCall(event.at);
        return;
      case "tool_call_started":
        this.#calls.set(
          event.callId,
          this.#start(`execute_tool ${event.name}`, event.at, {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": event.name,
            "gen_ai.tool.call.id": event.callId,
            "gen_ai.tool.type": "function",
          }),
        );
        return;
      case "tool_call_retrying":
        this.#calls.get(event.callId)?.addEvent("retry", {
          "agent_runtime.attempt": event.attempt,
          "agent_runtime.previous": event.previous,
        }, event.at);
        return;
      case "task_started":
        this.#calls.get(event.callId)?.setAttributes({
          "agent_runtime.background_task.id": event.taskId,
          "agent_runtime.background_task.reason": event.reason,
        });
        return;
      case "tool_call_finished":
        // A call that continues as a task ends with it.
        if (!(event.status === "running" && event.taskId)) this.#endCall(event);
        return;
      case "task_finished":
        this.#endCall(event);
        return;
      case "turn_finished":
        this.#endTurn(event.at, event.usage);
        return;
      case "turn_failed":
        this.#model?.setStatus({ code: SpanStatusCode.ERROR, message: event.error.message });
        this.#model?.setAttribute("error.type", event.error.type);
        this.#endModelCall(event.at);
        this.#turn?.setStatus({ code: SpanStatusCode.ERROR, message: event.error.message });
        this.#turn?.setAttribute("error.type", event.error.type);
        this.#endTurn(event.at, event.usage);
    }
  }

  /** The model asked: the offline stand-in answers whatever name the conversation has. */
  get #modelName(): string {
    const { modelProvider, modelName } = this.conversation;
    return modelProvider === "offline" ? "offline" : modelName;
  }

  #start(name: string, at: number, attributes: Attributes, kind = SpanKind.INTERNAL): Span {
    const parent = this.#turn ? trace.setSpan(context.active(), this.#turn) : context.active();
    return this.tracer.startSpan(name, {
      kind,
      startTime: at,
      attributes: { "gen_ai.conversation.id": this.conversation.id, ...attributes },
    }, parent);
  }

  #endModelCall(at: number): void {
    this.#model?.end(at);
    this.#model = undefined;
    modelCallSpans.delete(this.conversation.id);
  }

  #endCall(
    { callId, status, at, content }: {
      callId: string;
      status: string;
      at: number;
      content: string;
    },
  ): void {
    const span = this.#calls.get(callId);
    if (!span) return;
    this.#calls.delete(callId);
    span.setAttribute("agent_runtime.tool.status", status);
    if (status !== "succeeded") {
      span.setStatus({ code: SpanStatusCode.ERROR, message: content });
      span.setAttribute("error.type", errorTypeOf(status));
    }
    span.end(at);
  }

  #endTurn(at: number, usage: TokenUsage): void {
    this.#turn?.setAttributes(usageAttributes(usage));
    this.#turn?.end(at);
    this.#turn = undefined;
  }
}

/**
 * A call's `error.type`: `tool_error` for one that failed (a throw, bad
 * input, a denial), else how it ended (`timed_out`, `cancelled`, …).
 */
function errorTypeOf(status: string): string {
  return status === "failed" ? "tool_error" : status;
}

function usageAttributes(usage: TokenUsage): Attributes {
  return {
    "gen_ai.usage.input_tokens": usage.inputTokens,
    "gen_ai.usage.output_tokens": usage.outputTokens,
    "gen_ai.usage.cache_read.input_tokens": usage.cacheReadTokens,
    "gen_ai.usage.cache_creation.input_tokens": usage.cacheWriteTokens,
    "agent_runtime.cache.hit_rate": cacheHitRate(usage) ?? 0,
    "agent_runtime.server_tool_uses": usage.serverToolUses ?? 0,
  };
}
