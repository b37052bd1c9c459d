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
 * import { tracingEnabled } from "./tracing.ts";
 * console.log(tracingEnabled()); // false, unless OTEL_DENO=true
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
        this.#model = this.#start(`chat ${this.conversation.modelName}`, event.at, {
          "gen_ai.operation.name": "chat",
          "gen_ai.provider.name": "anthropic",
          "gen_ai.request.model": this.conversation.modelName,
          "agent_runtime.step": event.step,
        }, SpanKind.CLIENT);
        return;
      case "model_call_finished":
        this.#model?.setAttributes({
          ...usageAttributes(event.usage),
          "gen_ai.response.finish_reasons": [event.stopReason],
        });
        this.#model?.end(event.at);
        this.#model = undefined;
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
        this.#model?.end(event.at);
        this.#model = undefined;
        this.#turn?.setStatus({ code: SpanStatusCode.ERROR, message: event.error.message });
        this.#turn?.setAttribute("error.type", event.error.type);
        this.#endTurn(event.at, event.usage);
    }
  }

  #start(name: string, at: number, attributes: Attributes, kind = SpanKind.INTERNAL): Span {
    const parent = this.#turn ? trace.setSpan(context.active(), this.#turn) : context.active();
    return this.tracer.startSpan(name, {
      kind,
      startTime: at,
      attributes: { "gen_ai.conversation.id": this.conversation.id, ...attributes },
    }, parent);
  }

  #endCall(
    { callId, status, at }: { callId: string; status: string; at: number },
  ): void {
    const span = this.#calls.get(callId);
    if (!span) return;
    this.#calls.delete(callId);
    span.setAttribute("agent_runtime.tool.status", status);
    if (status !== "succeeded") {
      span.setStatus({ code: SpanStatusCode.ERROR, message: status });
      span.setAttribute("error.type", status);
    }
    span.end(at);
  }

  #endTurn(at: number, usage: TokenUsage): void {
    this.#turn?.setAttributes(usageAttributes(usage));
    this.#turn?.end(at);
    this.#turn = undefined;
  }
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
