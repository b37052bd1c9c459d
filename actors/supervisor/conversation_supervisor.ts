/**
 * The supervisor actor of one conversation: it owns the history, receives
 * its mailbox one message at a time, calls the model and spawns one tool
 * worker per tool call.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import type {
  ConversationEvent,
  ConversationEventInit,
  ToolCallSummary,
  TurnError,
} from "../../src/events.ts";
import { type Model, ModelError } from "../../src/model/model.ts";
import type { ToolCatalog } from "../../src/tool_catalog.ts";
import { errorMessage } from "../../src/_error_message.ts";
import { Mailbox } from "../mailbox.ts";
import { runToolCalls } from "./run_tool_calls.ts";

/** Everything a supervisor is configured with. */
export interface ConversationOptions {
  id: string;
  model: Model;
  /** The model name sent to the API. */
  modelName: string;
  catalog: ToolCatalog;
  /** The tools this conversation may call; all of the catalog's by default. */
  tools?: readonly string[];
  system?: string;
  /** Per-call time limit for tools that declare none. */
  defaultTimeoutMs: number;
  /** Model calls per turn at most. */
  maxSteps: number;
  maxTokens: number;
}

/** The messages a supervisor receives; `id` names the turn it starts in events. */
export type SupervisorMessage = { type: "user_message"; text: string; id?: string };

/** A tool call that has started and not yet finished. */
export interface CallInFlight {
  callId: string;
  name: string;
  startedAt: number;
}

/** How a turn ended. The history is valid either way. */
export type TurnResult =
  & { steps: number; toolCalls: ToolCallSummary[] }
  & (
    | { status: "completed"; stopReason: string; text: string }
    | { status: "failed"; error: TurnError }
  );

/**
 * One conversation. Messages sent while a turn runs wait in its mailbox;
 * different conversations run concurrently.
 *
 * @example
 * ```ts ignore
 * const supervisor = new ConversationSupervisor({ id: "c1", model, modelName, catalog, defaultTimeoutMs: 30_000, maxSteps: 20, maxTokens: 8192 });
 * supervisor.subscribe((event) => console.log(event.type));
 * const result = await supervisor.send({ type: "user_message", text: "What time is it?" });
 * ```
 */
export class ConversationSupervisor {
  readonly id: string;
  readonly #options: ConversationOptions;
  readonly #tools: Anthropic.Tool[];
  readonly #history: Anthropic.MessageParam[] = [];
  readonly #listeners = new Set<(event: ConversationEvent) => void>();
  readonly #mailbox = new Mailbox((message: SupervisorMessage) => this.#receive(message));
  readonly #inFlight = new Map<string, CallInFlight>();
  #turns = 0;
  #events = 0;
  #running: AbortController | undefined;

  constructor(options: ConversationOptions) {
    this.id = options.id;
    this.#options = options;
    this.#tools = options.catalog.forModel(options.tools);
  }

  /** Posts a message to the mailbox; resolves when its turn has ended. Never rejects. */
  send(message: SupervisorMessage): Promise<TurnResult> {
    return this.#mailbox.post(message);
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe function. */
  subscribe(listener: (event: ConversationEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops the running turn, if any: its tool workers are terminated. */
  cancel(): boolean {
    this.#running?.abort();
    return this.#running !== undefined;
  }

  /** The model name this conversation sends to the API. */
  get modelName(): string {
    return this.#options.modelName;
  }

  /** The tools this conversation may call. */
  get toolNames(): string[] {
    return this.#tools.map((tool) => tool.name);
  }

  /** The history in Messages API format. */
  get history(): readonly Anthropic.MessageParam[] {
    return this.#history;
  }

  /** Whether a turn runs, its tool calls in flight, and how many messages wait behind it. */
  get status(): { state: "idle" | "running"; queued: number; callsInFlight: CallInFlight[] } {
    return {
      state: this.#running ? "running" : "idle",
      queued: this.#mailbox.waiting,
      callsInFlight: [...this.#inFlight.values()],
    };
  }

  #receive(message: SupervisorMessage): Promise<TurnResult> {
    switch (message.type) {
      case "user_message":
        return this.#runTurn(message.text, message.id ?? crypto.randomUUID());
    }
  }

  async #runTurn(text: string, messageId: string): Promise<TurnResult> {
    const { model, maxSteps } = this.#options;
    const running = this.#running = new AbortController();
    const toolCalls: ToolCallSummary[] = [];
    let steps = 0;
    const fail = (error: TurnError): TurnResult => {
      this.#emit({ type: "turn_failed", error, steps });
      return { status: "failed", error, steps, toolCalls };
    };
    this.#emit({ type: "turn_started", turn: ++this.#turns, messageId, text });
    this.#appendUserContent([{ type: "text", text }]);
    try {
      while (steps < maxSteps) {
        this.#emit({ type: "model_call_started", step: ++steps });
        const response = await model.createMessage(this.#request(), {
          signal: running.signal,
          onText: (delta) => this.#emit({ type: "text_delta", text: delta }),
        });
        if (response.content.length > 0) {
          this.#history.push({ role: "assistant", content: response.content });
        }
        const calls = response.content.filter((block) => block.type === "tool_use");
        if (calls.length === 0) {
          const reply = response.content.flatMap((block) =>
            block.type === "text" ? [block.text] : []
          ).join("");
          const stopReason = response.stop_reason ?? "end_turn";
          this.#emit({ type: "turn_finished", stopReason, text: reply, steps });
          return { status: "completed", stopReason, text: reply, steps, toolCalls };
        }
        const batch = await runToolCalls(calls, {
          catalog: this.#options.catalog,
          allowed: this.toolNames,
          defaultTimeoutMs: this.#options.defaultTimeoutMs,
          signal: running.signal,
          emit: (event) => this.#emit(event),
        });
        toolCalls.push(...batch.summaries);
        this.#appendUserContent(batch.results);
        if (running.signal.aborted) {
          return fail({ type: "cancelled", message: "The turn was cancelled." });
        }
      }
      return fail({
        type: "max_steps",
        message:
          `Stopped after ${maxSteps} model calls without a final answer (raise --max-steps to allow more).`,
      });
    } catch (error) {
      if (error instanceof ModelError) return fail({ type: error.type, message: error.message });
      // A bug must fail this turn, not the conversation or the process.
      console.error(`Conversation ${this.id}: turn failed unexpectedly:`, error);
      return fail({ type: "internal_error", message: errorMessage(error) });
    } finally {
      this.#running = undefined;
    }
  }

  #request() {
    const { modelName, system, maxTokens } = this.#options;
    return { model: modelName, system, maxTokens, messages: this.#history, tools: this.#tools };
  }

  /**
   * Consecutive user content goes into one message, so a turn that failed
   * after the user spoke (or ran out of steps after tool results) still
   * leaves a history the API accepts.
   */
  #appendUserContent(content: Anthropic.ContentBlockParam[]): void {
    const last = this.#history.at(-1);
    if (last?.role !== "user") {
      this.#history.push({ role: "user", content });
      return;
    }
    const earlier = typeof last.content === "string"
      ? [{ type: "text" as const, text: last.content }]
      : last.content;
    last.content = [...earlier, ...content];
  }

  #emit(event: ConversationEventInit): void {
    const at = Date.now();
    if (event.type === "tool_call_started") {
      this.#inFlight.set(event.callId, { callId: event.callId, name: event.name, startedAt: at });
    } else if (event.type === "tool_call_finished") this.#inFlight.delete(event.callId);
    const stamped = {
      ...event,
      conversationId: this.id,
      id: ++this.#events,
      at,
    } as ConversationEvent;
    for (const listener of this.#listeners) listener(stamped);
  }
}
