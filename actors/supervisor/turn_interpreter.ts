/**
 * Runs one turn: its mailbox takes one message at a time through the pure
 * {@linkcode stepTurn}, applies the records it returns, and performs its
 * effects at the edge (journal writes, model calls, tool calls). An effect
 * that takes time runs on while the mailbox goes on receiving (a cancel,
 * say) and posts its outcome back as a message.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import type { ToolCallSummary } from "../../src/events.ts";
import { ModelError, type ModelRequest } from "../../src/model/model.ts";
import { textOf, thinkingOf } from "../../src/model/reply.ts";
import { thinkingParam } from "../../src/model/thinking.ts";
import { isTooLong, summaryRequest } from "../../src/model/compaction.ts";
import { type CallUpdate, historyOf, unreportedCalls } from "../../src/journal/records.ts";
import { JournalUnavailable } from "../../src/journal/storage_errors.ts";
import { inModelCallSpan } from "../../src/tracing.ts";
import { errorMessage } from "../../src/_error_message.ts";
import type { RuntimeSettings } from "../runtime_settings.ts";
import type { TaskBoard } from "../task_board.ts";
import { Mailbox } from "../mailbox.ts";
import { runToolCalls } from "./run_tool_calls.ts";
import { callPlacement } from "./tool_batch.ts";
import type { ApprovalDesk } from "./approval_desk.ts";
import { type ConversationLog, LeaseLost } from "./conversation_log.ts";
import type { EventFeed } from "./event_feed.ts";
import {
  newTurn,
  stepTurn,
  type Turn,
  type TurnEffect,
  type TurnMessage,
  type TurnResult,
} from "./turn.ts";

/** What a turn works with: its conversation's journal, events and tools. */
export interface TurnEdges {
  id: string;
  settings: RuntimeSettings;
  log: ConversationLog;
  events: EventFeed;
  approvals: ApprovalDesk;
  tasks: TaskBoard;
  /** The tools the conversation may call. */
  toolNames: string[];
  /** Whether the turn is all this process does on the conversation: its end gives the lease back. */
  isLastWork: () => boolean;
  /** Journals call updates; rejects when the conversation is no longer ours to write. */
  recordCalls: (updates: CallUpdate[]) => Promise<void>;
}

/**
 * One turn, from its journaled start (or a crash's leftover) to its end.
 *
 * @example
 * ```ts ignore
 * const result = await new TurnInterpreter(edges).run("proceed");
 * ```
 */
export class TurnInterpreter {
  readonly #edges: TurnEdges;
  readonly #mailbox = new Mailbox((message: TurnMessage) => this.#receive(message));
  readonly #stop = new AbortController();
  readonly #ended = Promise.withResolvers<TurnResult>();
  readonly #toolCalls: ToolCallSummary[] = [];
  /** What the model's next request carries, on its way to the journal: its answer is taken after. */
  #journaling: Promise<void> = Promise.resolve();
  #turn: Turn;

  constructor(edges: TurnEdges) {
    this.#edges = edges;
    const { log, settings } = edges;
    this.#turn = newTurn(log.state.maxTokens ?? settings.maxTokens);
  }

  /**
   * Starts the turn (`resume`: one a crash left open); resolves when it has
   * ended. `begun`: the turn's start on its way to the journal; the first
   * request goes meanwhile, and its answer is taken once the start is durable.
   */
  run(first: "proceed" | "resume", begun?: Promise<void>): Promise<TurnResult> {
    if (begun) this.#journaling = begun;
    this.#post({ type: first });
    return this.#ended.promise;
  }

  /** Asks the turn to stop: what runs is stopped, then the turn ends `cancelled`. */
  cancel(): void {
    this.#post({ type: "cancel" });
  }

  /** Stops what runs at once, because its results can no longer be journaled. */
  abort(): void {
    this.#stop.abort();
  }

  #post(message: TurnMessage): void {
    this.#mailbox.post(message).catch((error) => this.#ended.reject(error));
  }

  async #receive(message: TurnMessage): Promise<void> {
    const { log, settings } = this.#edges;
    const { turn, records, effects } = stepTurn(log.state, this.#turn, message, {
      maxSteps: settings.maxSteps,
      compaction: settings.compaction,
      isIdempotent: (name) => settings.catalog.get(name)?.idempotent === true,
      now: (settings.clock ?? Date.now)(),
    });
    this.#turn = turn;
    // Their events are announced once a write has made them durable (the log's watcher).
    for (const record of records) log.stage(record);
    try {
      for (const effect of effects) await this.#perform(effect);
    } catch (error) {
      this.#post(failureOf(error, this.#edges.id));
    }
  }

  async #perform(effect: TurnEffect): Promise<void> {
    const { log, isLastWork } = this.#edges;
    switch (effect.type) {
      case "proceed":
        if (effect.durable) await log.write([]);
        return this.#post({ type: "proceed" });
      case "run_calls":
        return this.#settle(this.#runCalls(), () => ({ type: "calls_settled" }));
      case "ask_model":
        return this.#settle(
          this.#callModel(effect.step, effect.maxTokens),
          (reply) => ({ type: "reply", reply }),
        );
      case "summarize":
        return this.#settle(
          this.#summarize(effect.keepFrom),
          (reply) => ({ type: "reply", reply }),
        );
      case "abort":
        return this.#stop.abort();
      case "halt":
        return this.#ended.reject(effect.error);
      case "finish": {
        const { outcome, steps, usage } = effect;
        try {
          await log.withLease(() => log.write([], { release: isLastWork() }));
        } catch (error) {
          return this.#ended.reject(error);
        }
        const toolCalls = this.#toolCalls;
        this.#ended.resolve(
          "stopReason" in outcome
            ? { status: "completed", ...outcome, steps, usage, toolCalls }
            : { status: "failed", error: outcome, steps, usage, toolCalls },
        );
      }
    }
  }

  /** Lets `work` run on and posts what it gives back. */
  #settle<T>(work: Promise<T>, message: (value: T) => TurnMessage): void {
    work.then(
      (value) => this.#post(message(value)),
      (error) => this.#post(failureOf(error, this.#edges.id)),
    );
  }

  async #runCalls(): Promise<void> {
    const { id, settings, log, events, tasks, approvals, toolNames, recordCalls } = this.#edges;
    const batch = await runToolCalls(unreportedCalls(log.state), {
      conversationId: id,
      metadata: log.state.metadata,
      catalog: settings.catalog,
      allowed: toolNames,
      defaultTimeoutMs: settings.defaultTimeoutMs,
      turnLimitMs: settings.turnLimitMs,
      signal: this.#stop.signal,
      emit: (event) => events.emit(event, log.seq),
      record: recordCalls,
      tasks,
      handOff: settings.handOff,
      executor: settings.executor,
      limits: settings.toolLimits,
      slots: settings.slots,
      policies: settings.policies,
      approvals,
    });
    this.#toolCalls.push(...batch.summaries);
    this.#journaling = batch.durable;
    // Stopped calls report at once; the turn ends only once what they reported is journaled.
    if (this.#stop.signal.aborted) await batch.durable;
  }

  /**
   * One model call: streamed while someone watches the conversation (its
   * text as it is generated, a worker prepared as each `tool_use` block
   * starts); else in one piece, which costs the process a fraction of the
   * CPU, its text then one delta, as a replay from the journal shows it.
   */
  async #callModel(step: number, maxTokens: number): Promise<Anthropic.Message> {
    const { settings: { model }, events } = this.#edges;
    const signal = this.#stop.signal;
    if (events.watched) {
      await this.#journaling; // what streams is announced as it comes, after the records it follows
      this.#emitted({ type: "model_call_started", step });
      return await inModelCallSpan(
        this.#edges.id,
        () =>
          model.createMessage(this.#request(maxTokens), {
            signal,
            onRetry: (attempt, reason) =>
              this.#emitted({ type: "model_call_retrying", step, attempt, reason }),
            onText: (delta) => this.#emitted({ type: "text_delta", text: delta }),
            onThinking: (delta) => this.#emitted({ type: "thinking_delta", text: delta }),
            onToolUse: (name) => this.#prepareCall(name),
          }),
      );
    }
    // The request goes while the results it carries are being journaled (a commit's
    // round trip off the turn's path); its answer is taken only once they are durable.
    const answer = model.createMessage(this.#request(maxTokens), { signal });
    answer.catch(() => {}); // a failed write aborts the call: its error is not the turn's
    await this.#journaling;
    this.#emitted({ type: "model_call_started", step });
    const reply = await answer;
    const thinking = thinkingOf(reply.content);
    if (thinking.length > 0) this.#emitted({ type: "thinking_delta", text: thinking });
    const text = textOf(reply.content);
    if (text.length > 0) this.#emitted({ type: "text_delta", text });
    return reply;
  }

  async #summarize(keepFrom: number): Promise<Anthropic.Message> {
    const { settings: { model, catalog }, log } = this.#edges;
    const request = summaryRequest(log.state, keepFrom, catalog.forModel(log.state.tools));
    const summary = model.createMessage(request, { signal: this.#stop.signal });
    summary.catch(() => {}); // a failed write aborts the call: its error is not the turn's
    await this.#journaling;
    return await summary;
  }

  /** The model named a tool it is about to call: its worker may start while the input streams. */
  #prepareCall(name: string): void {
    const { settings: { catalog, executor, toolLimits }, toolNames, id } = this.#edges;
    const tool = toolNames.includes(name) ? catalog.get(name) : undefined;
    if (tool) executor.prepare(callPlacement(tool, id, toolLimits));
  }

  #request(maxTokens: number): ModelRequest {
    const { settings, log: { state } } = this.#edges;
    const effort = state.effort ?? settings.effort;
    return {
      model: state.modelName,
      system: state.system,
      maxTokens,
      messages: historyOf(state),
      tools: [
        ...settings.catalog.forModel(state.tools),
        ...(settings.serverTools ?? []).filter((tool) =>
          !state.tools || state.tools.includes(tool.name)
        ),
      ],
      thinking: thinkingParam(state.thinking ?? settings.thinking),
      ...(effort ? { effort } : {}),
    };
  }

  #emitted(event: Parameters<EventFeed["emit"]>[0]): void {
    this.#edges.events.emit(event, this.#edges.log.seq);
  }
}

/** The message an effect's failure becomes. */
function failureOf(error: unknown, conversationId: string): TurnMessage {
  if (error instanceof LeaseLost || error instanceof JournalUnavailable) {
    return { type: "journal_lost", error };
  }
  if (error instanceof ModelError) {
    const failure = { type: error.type, message: error.message };
    return {
      type: "model_failed",
      failure: { type: isTooLong(error) ? "too_long" : "failed", error: failure },
    };
  }
  // A bug must fail this turn, not the conversation or the process.
  console.error(`Conversation ${conversationId}: turn failed unexpectedly:`, error);
  return { type: "crashed", message: errorMessage(error) };
}
