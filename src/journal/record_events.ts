/**
 * The events a conversation's journal records stand for. Live, a record's
 * events are announced from it once it is durable; a client that
 * reconnects, after a restart or on another server, is sent the same
 * events rebuilt from the same records: the same ids, the same times,
 * nothing that did not happen. What is only streamed live (text, thinking,
 * progress) comes back as one `text_delta` and one `thinking_delta` per
 * model response, progress reports not at all.
 *
 * @module
 */
import type { ConversationEvent, ConversationEventInit } from "../events.ts";
import {
  type AssistantRecord,
  type ConversationState,
  type JournalRecord,
  turnText,
} from "./records.ts";
import { addUsage, NO_USAGE, type TokenUsage } from "../token_usage.ts";
import { thinkingOf } from "../model/reply.ts";

/**
 * Event ids are `seq * EVENT_ID_STRIDE + n`: the journal sequence number of
 * the last record written when the event happened, and a count since then.
 * The journal only grows, so ids increase for the conversation's whole
 * life, across restarts and processes.
 */
export const EVENT_ID_STRIDE = 1_000_000;

/** The journal sequence number an event id was given at. */
export function seqOfEventId(id: number): number {
  return Math.floor(id / EVENT_ID_STRIDE);
}

/**
 * The events of the records after `afterSeq`, in order, with the ids they
 * were given live where the record was the last one of its write.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { eventsOfRecords } from "./record_events.ts";
 * const events = eventsOfRecords("c1", [
 *   { seq: 0, record: { type: "created", modelName: "claude-x", at: 5 } },
 *   { seq: 1, record: { type: "turn_started", turn: 1, cause: { type: "user_message", messageId: "m1", text: "Hi" }, at: 6 } },
 * ], -1);
 * assertEquals(events.map((event) => [event.type, event.id]), [["turn_started", 1000000]]);
 * ```
 */
export function eventsOfRecords(
  conversationId: string,
  records: { seq: number; record: JournalRecord }[],
  afterSeq: number,
): ConversationEvent[] {
  const replay = new RecordReplay(conversationId, afterSeq);
  return records.flatMap(({ seq, record }) => replay.next(seq, record));
}

/**
 * {@linkcode eventsOfRecords} over records read one at a time: the events
 * come as the records are read, and memory holds only what events still
 * need (each call's name and input), never the conversation's content.
 */
export async function* replayEvents(
  conversationId: string,
  records: AsyncIterable<{ seq: number; record: JournalRecord }>,
  afterSeq: number,
): AsyncGenerator<ConversationEvent> {
  const replay = new RecordReplay(conversationId, afterSeq);
  for await (const { seq, record } of records) yield* replay.next(seq, record);
}

/**
 * The events that live are streamed as the model writes, before its reply
 * is a record: rebuilt from the record, one each, only for a replay.
 */
export const STREAMED_LIVE: ReadonlySet<ConversationEvent["type"]> = new Set([
  "model_call_started",
  "thinking_delta",
  "text_delta",
]);

/**
 * The events of a conversation's records, one record at a time, in
 * journal order: from its start for a replay, or from a state read from
 * the journal ({@linkcode RecordReplay.from}) for the live announcements.
 */
export class RecordReplay {
  readonly #state: ReplayState;
  /** The time of the last record that had one: for records written before times were kept. */
  #lastAt = 0;

  constructor(
    readonly conversationId: string,
    readonly afterSeq: number,
    state: ReplayState = { turns: 0, steps: 0, usage: NO_USAGE, calls: new Map() },
  ) {
    this.#state = state;
  }

  /** A replay that goes on from `state`, the conversation as of `seq`. */
  static from(conversationId: string, state: ConversationState, seq: number): RecordReplay {
    const calls = new Map([...state.calls].map(([id, { name, input }]) => [id, { name, input }]));
    const { steps, usage } = state.openTurn ?? { steps: 0, usage: NO_USAGE };
    return new RecordReplay(conversationId, seq, { turns: state.turns, steps, usage, calls });
  }

  /** The events of the record at `seq` (none at or before `afterSeq`). */
  next(seq: number, record: JournalRecord): ConversationEvent[] {
    const before = { steps: this.#state.steps, usage: this.#state.usage };
    applyToReplay(this.#state, record);
    this.#lastAt = record.at ?? this.#lastAt;
    if (seq <= this.afterSeq) return [];
    return eventsOf(record, this.#state, before).map((event, n) => ({
      ...event,
      conversationId: this.conversationId,
      id: seq * EVENT_ID_STRIDE + n,
      at: this.#lastAt,
    } as ConversationEvent));
  }
}

/** The part of a conversation's state that its events are made from. */
export interface ReplayState {
  turns: number;
  /** The open turn's model calls so far, and their tokens. */
  steps: number;
  usage: TokenUsage;
  calls: Map<string, { name: string; input: unknown }>;
}

/** What {@linkcode applyRecord} does to the parts of the state in {@linkcode ReplayState}. */
function applyToReplay(state: ReplayState, record: JournalRecord): void {
  if (record.type === "turn_started") {
    [state.turns, state.steps, state.usage] = [record.turn, 0, NO_USAGE];
  } else if (record.type === "assistant") {
    state.steps++;
    state.usage = addUsage(state.usage, record.usage);
    if (record.withheld) return;
    for (const block of record.content) {
      if (block.type === "tool_use") state.calls.set(block.id, block);
    }
  }
}

/** The event of a model response, the `step`th of its turn. */
function modelCallFinished(
  { stopReason, usage }: AssistantRecord,
  step: number,
): ConversationEventInit {
  return {
    type: "model_call_finished",
    step,
    stopReason: stopReason ?? "end_turn",
    usage: usage ?? NO_USAGE,
  };
}

/**
 * The server tools a reply used (they ran at Anthropic, within the model
 * call): one event each, `failed` when its result block is an error.
 */
function serverToolEvents(record: AssistantRecord): ConversationEventInit[] {
  const blocks = record.content as unknown as {
    type: string;
    id?: string;
    name?: string;
    input?: unknown;
    tool_use_id?: string;
    content?: unknown;
  }[];
  return blocks.flatMap((block) => {
    if (block.type !== "server_tool_use") return [];
    const result = blocks.find((other) => other.tool_use_id === block.id);
    const outcome = result?.content as { type?: string } | undefined;
    const failed = !result || (outcome?.type ?? "").endsWith("_error");
    return [{
      type: "server_tool_used" as const,
      callId: block.id!,
      name: block.name!,
      input: block.input,
      failed,
    }];
  });
}

function eventsOf(
  record: JournalRecord,
  state: ReplayState,
  { steps }: { steps: number },
): ConversationEventInit[] {
  switch (record.type) {
    case "created":
      return [];
    case "turn_started":
    case "compacted":
    case "turn_resumed":
    case "turn_ended":
      return [turnEventOf(record, state)];
    case "assistant": {
      const text = record.content.flatMap((block) => block.type === "text" ? [block.text] : []);
      const thinking = thinkingOf(record.content);
      return [
        { type: "model_call_started", step: steps + 1 },
        ...(thinking.length > 0 ? [{ type: "thinking_delta", text: thinking }] : []),
        ...(text.length > 0 ? [{ type: "text_delta", text: text.join("") }] : []),
        modelCallFinished(record, steps + 1),
        ...serverToolEvents(record),
      ] as ConversationEventInit[];
    }
    case "call": {
      const call = state.calls.get(record.callId);
      if (!call) return [];
      const { callId, decision } = record;
      // Journaled as its worker is about to start (again, for a retry): a denied call never is.
      if (record.state === "running" && !record.reported) {
        return [{ type: "tool_call_started", callId, name: call.name, input: call.input }];
      }
      if (record.state === "awaiting_approval" && !decision && !record.reported) {
        const { name, input } = call;
        const { expiresAt } = record;
        return [{
          type: "tool_call_awaiting_approval",
          callId,
          name,
          input,
          ...(expiresAt === undefined ? {} : { expiresAt }),
        }];
      }
      if (decision) {
        return [
          decision.approved
            ? { type: "tool_call_approved", callId, name: call.name }
            : { type: "tool_call_denied", callId, name: call.name, reason: decision.reason },
        ];
      }
      if (!record.reported) return [];
      return [{
        type: "tool_call_finished",
        callId: record.callId,
        name: call.name,
        status: record.state,
        ms: record.ms ?? 0,
        content: record.reported.content,
        ...(record.taskId ? { taskId: record.taskId } : {}),
        ...((record.attempts ?? 1) > 1 ? { attempts: record.attempts } : {}),
      }] as ConversationEventInit[];
    }
  }
}

/** A record that marks a turn's course, rather than a model call or a tool call. */
type TurnRecord = Extract<
  JournalRecord,
  { type: "turn_started" | "turn_resumed" | "compacted" | "turn_ended" }
>;

/**
 * The event of a turn record. `turns` is the conversation's turn count;
 * `steps` and `usage` are the open turn's model calls and tokens, with its
 * last reply.
 */
function turnEventOf(
  record: TurnRecord,
  { turns, steps, usage }: { turns: number; steps: number; usage: TokenUsage },
): ConversationEventInit {
  switch (record.type) {
    case "turn_started": {
      const { cause } = record;
      const byTask = cause.type === "task_result";
      return {
        type: "turn_started",
        turn: record.turn,
        messageId: byTask ? `task:${cause.taskId}` : cause.messageId,
        text: turnText(cause),
        ...(byTask ? { taskId: cause.taskId } : {}),
      };
    }
    case "compacted":
      return { type: "context_compacted", keepFrom: record.keepFrom, summary: record.summary };
    case "turn_resumed":
      return {
        type: "turn_resumed",
        turn: turns,
        interrupted: record.interrupted,
        rerun: record.rerun,
      };
    case "turn_ended":
      return record.status === "completed"
        ? {
          type: "turn_finished",
          stopReason: record.stopReason!,
          text: record.text!,
          steps,
          usage,
        }
        : { type: "turn_failed", error: record.error!, steps, usage };
  }
}
