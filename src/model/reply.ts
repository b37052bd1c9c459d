/**
 * What a turn does with a model's reply, by how the reply ended: the
 * Messages API's `stop_reason`, and whether the reply is well-formed.
 * Pure: the supervisor acts on the verdict.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import type { TurnError } from "../turn_error.ts";

/**
 * Why a reply is kept in the journal (for audit) but never sent to the
 * model again: it would poison every later request.
 */
export type Withheld = "truncated" | "refusal" | "malformed";

/** `pause_turn` replies a turn continues by itself before it fails. */
export const MAX_PAUSES = 5;

/**
 * The most room (`max_tokens`) a reply cut inside a tool call is asked
 * again with: the output limit of the current Claude models.
 */
export const MAX_OUTPUT_TOKENS = 64_000;

/** What the turn does next. */
export type ReplyVerdict =
  /** Its `tool_use` calls run; the model hears back from each. */
  | { type: "run_tools" }
  /** The turn ends with this answer. */
  | { type: "answer"; text: string; stopReason: Anthropic.StopReason }
  /** `pause_turn`: the reply goes back to the model as it is, with no new user message. */
  | { type: "continue" }
  /** Cut by `max_tokens` inside a `tool_use`: none of it runs; ask again with more room. */
  | { type: "retry_with_room"; withheld: "truncated" }
  /** The turn fails; the reply is withheld from the model when `withheld` says why. */
  | { type: "fail"; error: TurnError; withheld?: Withheld };

/** Every block type of a reply this runtime knows, kept in step with the SDK's own union. */
const KNOWN_BLOCKS = {
  text: true,
  thinking: true,
  redacted_thinking: true,
  tool_use: true,
  server_tool_use: true,
  web_search_tool_result: true,
  web_fetch_tool_result: true,
  code_execution_tool_result: true,
  bash_code_execution_tool_result: true,
  text_editor_code_execution_tool_result: true,
  tool_search_tool_result: true,
  container_upload: true,
} satisfies Record<Anthropic.ContentBlock["type"], true>;

/**
 * The verdict on `reply`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type Anthropic from "@anthropic-ai/sdk";
 * import { judgeReply } from "./reply.ts";
 * const cut = {
 *   stop_reason: "max_tokens",
 *   content: [{ type: "tool_use", id: "toolu_1", name: "write", input: { file: "a" } }],
 * } as Anthropic.Message;
 * assertEquals(judgeReply(cut).type, "retry_with_room");
 * ```
 */
export function judgeReply(reply: Anthropic.Message): ReplyVerdict {
  const malformed = malformation(reply.content);
  if (malformed) return fail("malformed_reply", malformed, "malformed");
  const asksForTools = reply.content.some((block) => block.type === "tool_use");
  const text = textOf(reply.content);
  switch (reply.stop_reason) {
    case "tool_use":
      return asksForTools
        ? { type: "run_tools" }
        : { type: "answer", text, stopReason: "tool_use" };
    case "end_turn":
    case "stop_sequence":
      // A reply that did not stop for its tools never runs them.
      return asksForTools
        ? fail(
          "malformed_reply",
          `A reply that ended with ${reply.stop_reason} asked for tools; none of them ran.`,
          "malformed",
        )
        : { type: "answer", text, stopReason: reply.stop_reason };
    case "max_tokens":
      return asksForTools
        ? { type: "retry_with_room", withheld: "truncated" }
        : { type: "answer", text, stopReason: "max_tokens" };
    case "pause_turn":
      return { type: "continue" };
    case "refusal":
      return refusal(reply);
    case "model_context_window_exceeded":
      return fail(
        "context_window_exceeded",
        "The conversation no longer fits the model's context window; nothing the last reply asked for ran.",
        asksForTools ? "truncated" : undefined,
      );
    default:
      return fail(
        "unknown_stop_reason",
        `The model stopped for a reason this runtime does not know (${
          JSON.stringify(reply.stop_reason)
        }); nothing it asked for ran.`,
        "malformed",
      );
  }
}

/** The thinking blocks of a reply, joined (redacted ones have none to show). */
export function thinkingOf(content: Anthropic.ContentBlock[]): string {
  return content.flatMap((block) => block.type === "thinking" ? [block.thinking] : []).join("");
}

/** The text blocks of a reply, joined. */
export function textOf(content: Anthropic.ContentBlock[]): string {
  return content.flatMap((block) => block.type === "text" ? [block.text] : []).join("");
}

function refusal(reply: Anthropic.Message): ReplyVerdict {
  const details = (reply as { stop_details?: Anthropic.RefusalStopDetails | null }).stop_details;
  const why = details?.explanation ?? (details?.category ? `category ${details.category}` : "");
  return {
    type: "fail",
    error: {
      type: "refusal",
      message: `The model declined to answer${why ? `: ${why}` : "."}`,
      ...(details ? { details } : {}),
    },
    withheld: "refusal",
  };
}

/** What makes a reply unusable, or undefined if nothing does. */
function malformation(content: Anthropic.ContentBlock[]): string | undefined {
  const ids = new Set<string>();
  for (const block of content) {
    if (!(block.type in KNOWN_BLOCKS)) {
      return `The reply has a block of unknown type "${block.type}".`;
    }
    if (block.type !== "tool_use") continue;
    const input = block.input;
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
      return `The tool call ${block.id} (${block.name}) has an input that is not an object.`;
    }
    if (ids.has(block.id)) return `Two tool calls of the reply have the id ${block.id}.`;
    ids.add(block.id);
  }
  return undefined;
}

function fail(type: string, message: string, withheld?: Withheld): ReplyVerdict {
  return { type: "fail", error: { type, message }, ...(withheld ? { withheld } : {}) };
}
