import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import type { ConversationEvent, ConversationEventInit } from "../src/events.ts";
import { TerminalView } from "../src/cli/terminal_view.ts";

function capture() {
  let text = "";
  return {
    sink: {
      writeSync(bytes: Uint8Array) {
        text += new TextDecoder().decode(bytes);
        return bytes.length;
      },
    },
    get text() {
      return text;
    },
  };
}

let id = 0;
const event = (init: ConversationEventInit, at = 1_000) =>
  ({ ...init, conversationId: "c", id: ++id, at }) as ConversationEvent;

const batch = [
  event({ type: "text_delta", text: "Looking" }),
  event({ type: "tool_call_started", callId: "a", name: "fetch_url", input: {} }),
  event({ type: "tool_call_started", callId: "b", name: "read_file", input: {} }),
  event({ type: "tool_call_progress", callId: "a", name: "fetch_url", text: "connecting" }),
  event({
    type: "tool_call_finished",
    callId: "b",
    name: "read_file",
    status: "failed",
    ms: 12,
    content: "NotCapable: Requires read access",
  }),
  event({
    type: "tool_call_finished",
    callId: "a",
    name: "fetch_url",
    status: "succeeded",
    ms: 250,
    content: "{}",
  }),
  event({ type: "tool_batch_finished", count: 2, wallMs: 251, summedMs: 262 }),
  event({
    type: "turn_finished",
    stopReason: "max_tokens",
    text: "",
    steps: 2,
    usage: { inputTokens: 1500, outputTokens: 40, cacheReadTokens: 0, cacheWriteTokens: 0 },
  }),
];

Deno.test("off a terminal, tool activity is one plain line per event on stderr", () => {
  const [out, err] = [capture(), capture()];
  const view = new TerminalView({ stdout: out.sink, stderr: err.sink, live: false });
  for (const e of batch) view.render(e);
  assertEquals(out.text, "Looking\n");
  assertEquals(err.text.split("\n"), [
    "▶ fetch_url started (a)",
    "▶ read_file started (b)",
    "… fetch_url: connecting",
    "✗ read_file failed 0.01 s: NotCapable: Requires read access",
    "✓ fetch_url 0.25 s",
    "2 tools in parallel: 0.25 s wall, 0.26 s summed",
    "Stopped: the answer reached the token limit (max_tokens) and is cut off.",
    "tokens: 1,500 in, 40 out",
    "",
  ]);
});

Deno.test("on a terminal, every call has a line redrawn in place with its state", () => {
  const [out, err] = [capture(), capture()];
  const view = new TerminalView({ stdout: out.sink, stderr: err.sink, live: true });
  for (const e of batch) view.render(e);
  assertStringIncludes(err.text, "\x1b[2F\x1b[J", "the two call lines are redrawn in place");
  const lastFrame = err.text.split("\x1b[J").at(-1)!;
  assertMatch(lastFrame, /^ {2}✓ fetch_url 0\.25 s\n {2}✗ read_file failed 0\.01 s: NotCapable/);
  assertStringIncludes(lastFrame, "2 tools in parallel: 0.25 s wall, 0.26 s summed\n");
});

Deno.test("progress from a background task after its batch has ended is shown plainly, and ignored live", () => {
  const events = [
    event({ type: "tool_call_started", callId: "bg", name: "slow_report", input: {} }),
    event({
      type: "tool_call_finished",
      callId: "bg",
      name: "slow_report",
      status: "running",
      ms: 0,
      content: "continues",
      taskId: "task_1",
    }),
    event({ type: "tool_batch_finished", count: 1, wallMs: 5, summedMs: 5 }),
    event({ type: "tool_call_progress", callId: "bg", name: "slow_report", text: "half done" }),
  ];
  for (const live of [false, true]) {
    const err = capture();
    const view = new TerminalView({ stdout: capture().sink, stderr: err.sink, live });
    for (const e of events) view.render(e);
    if (!live) assertStringIncludes(err.text, "… slow_report: half done");
  }
});

Deno.test("a call that goes on as a background task shows how long it ran, and its end how long it took", () => {
  const err = capture();
  const view = new TerminalView({ stdout: capture().sink, stderr: err.sink, live: false });
  for (
    const e of [
      event({ type: "tool_call_started", callId: "bg", name: "slow", input: {} }, 1_000),
      event({
        type: "tool_call_finished",
        callId: "bg",
        name: "slow",
        status: "running",
        ms: 0,
        content: "continues",
        taskId: "task_1",
      }, 1_300),
      event({
        type: "task_finished",
        taskId: "task_1",
        callId: "bg",
        name: "slow",
        status: "succeeded",
        content: "done",
      }, 2_500),
    ]
  ) view.render(e);
  assertEquals(err.text.split("\n").slice(1, 3), [
    "↻ slow running 0.30 s: continues as task_1",
    "✓ slow task task_1 succeeded after 1.50 s: done",
  ]);
});

Deno.test("a question is never drawn over: the table comes down, and lines wait for the answer", () => {
  const err = capture();
  const view = new TerminalView({ stdout: capture().sink, stderr: err.sink, live: true });
  view.render(event({ type: "tool_call_started", callId: "s", name: "sleep", input: { ms: 9 } }));
  for (const amount of [50, 5000]) {
    view.render(event({
      type: "tool_call_awaiting_approval",
      callId: `pay${amount}`,
      name: "pay",
      input: { amount },
    }));
  }
  view.ask('Run pay {"amount":5000}? [y/N] ');
  const asked = err.text.length;
  view.render(event({ type: "tool_call_progress", callId: "s", name: "sleep", text: "half" }));
  view.render(event({
    type: "tool_call_finished",
    callId: "s",
    name: "sleep",
    status: "succeeded",
    ms: 9,
    content: "{}",
  }));
  view.notice("Cancelling the turn (Ctrl-C again to quit)…");
  assertEquals(err.text.slice(asked), "", "nothing is written while the question waits");
  view.answered("n\n");
  const after = err.text.slice(asked);
  assert(after.startsWith("n\nCancelling the turn"), after);
  const lastFrame = err.text.split("\x1b[J").at(-1)!.split("\n");
  assertEquals(lastFrame.length, 4, "one row per call, none repeated");
  assertStringIncludes(lastFrame[0], '✓ sleep {"ms":9} 0.01 s');
  assertMatch(lastFrame[1], /⏸ pay \{"amount":50\} awaiting approval \d+\.\d\d s$/);
  assertMatch(lastFrame[2], /⏸ pay \{"amount":5000\} awaiting approval \d+\.\d\d s$/);
  view.render(event({ type: "tool_batch_finished", count: 3, wallMs: 9, summedMs: 9 }));
});

Deno.test("live rows are cut to the terminal's width, so that none wraps and is drawn twice", () => {
  const err = capture();
  const view = new TerminalView({
    stdout: capture().sink,
    stderr: err.sink,
    live: true,
    columns: 40,
  });
  view.render(event({
    type: "tool_call_awaiting_approval",
    callId: "w",
    name: "write_file",
    input: { path: "/tmp/report.txt", text: "x".repeat(500) },
  }));
  const rows = err.text.split("\x1b[J").at(-1)!.split("\n").filter(Boolean);
  assertEquals(rows.length, 1);
  assert(rows[0].length < 40, rows[0]);
  assertStringIncludes(rows[0], '⏸ write_file {"path"');
  view.render(event({ type: "tool_batch_finished", count: 1, wallMs: 9, summedMs: 9 }));
});
