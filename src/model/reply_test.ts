import { assertEquals } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { judgeReply, type ReplyVerdict } from "./reply.ts";

const text = (value: string) => ({ type: "text", text: value, citations: null });
const call = (id: string, input: unknown = {}) => ({ type: "tool_use", id, name: "write", input });

function reply(stop: string | null, ...content: unknown[]): Anthropic.Message {
  return { stop_reason: stop, content } as Anthropic.Message;
}

/** Each way a reply can end, and what the turn must do with it. */
const TABLE: [string, Anthropic.Message, ReplyVerdict["type"], string?][] = [
  ["calls asked for", reply("tool_use", text("Let me."), call("a")), "run_tools"],
  ["an answer", reply("end_turn", text("Done.")), "answer"],
  ["a stop sequence", reply("stop_sequence", text("Done")), "answer"],
  ["text cut by max_tokens", reply("max_tokens", text("Long answ")), "answer"],
  ["a call cut by max_tokens", reply("max_tokens", call("a", { f: "x" })), "retry_with_room"],
  ["a paused server tool", reply("pause_turn", { type: "server_tool_use", id: "s" }), "continue"],
  ["a refusal", reply("refusal", text("I can")), "fail", "refusal"],
  [
    "a call beside end_turn",
    reply("end_turn", call("a")),
    "fail",
    "malformed_reply",
  ],
  [
    "the window exceeded",
    reply("model_context_window_exceeded"),
    "fail",
    "context_window_exceeded",
  ],
  ["an unknown stop reason", reply("dreaming", text("Zzz")), "fail", "unknown_stop_reason"],
  ["an unknown block", reply("end_turn", { type: "hologram" }), "fail", "malformed_reply"],
  ["an input that is an array", reply("tool_use", call("a", [1])), "fail", "malformed_reply"],
  ["an input that is null", reply("tool_use", call("a", null)), "fail", "malformed_reply"],
  ["two calls, one id", reply("tool_use", call("a"), call("a")), "fail", "malformed_reply"],
];

Deno.test("judgeReply: every way a reply can end gets the verdict the turn acts on", () => {
  for (const [what, message, verdict, errorType] of TABLE) {
    const judged = judgeReply(message);
    assertEquals(judged.type, verdict, what);
    if (judged.type === "fail") assertEquals(judged.error.type, errorType, what);
  }
});

Deno.test("judgeReply: withheld replies say why, and only they do", () => {
  const withheld = TABLE.map(([what, message]) => {
    const judged = judgeReply(message);
    return [what, "withheld" in judged ? judged.withheld : undefined];
  });
  assertEquals(withheld, [
    ["calls asked for", undefined],
    ["an answer", undefined],
    ["a stop sequence", undefined],
    ["text cut by max_tokens", undefined],
    ["a call cut by max_tokens", "truncated"],
    ["a paused server tool", undefined],
    ["a refusal", "refusal"],
    ["a call beside end_turn", "malformed"],
    ["the window exceeded", undefined],
    ["an unknown stop reason", "malformed"],
    ["an unknown block", "malformed"],
    ["an input that is an array", "malformed"],
    ["an input that is null", "malformed"],
    ["two calls, one id", "malformed"],
  ]);
});

Deno.test("judgeReply: a refusal carries the API's stop_details and its explanation", () => {
  const details = { type: "refusal", category: "bio", explanation: "Lab methods." };
  const judged = judgeReply({ ...reply("refusal"), stop_details: details } as Anthropic.Message);
  assertEquals(judged.type === "fail" && judged.error, {
    type: "refusal",
    message: "The model declined to answer: Lab methods.",
    details,
  });
});
