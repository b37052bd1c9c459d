import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import {
  conversationWhen,
  crashMidCall,
  eventually,
  finishTimes,
  journaledServerEnv,
  request,
  sendWithoutWaiting,
  sleepThenAnswer,
  startServerProcess,
} from "./support/server_process.ts";
import { lastUserText } from "./support/test_system.ts";

Deno.test("kill -9 mid-turn: after a restart every message is there, running calls are settled and the turn finishes", async () => {
  await using api = startFakeMessagesApi((request) => {
    const last = lastUserText(request);
    if (last.includes("tool_result")) return { text: "Recovered." };
    if (last.includes("second")) return { text: "Second answered." };
    return {
      toolCalls: [
        { id: "toolu_slow", name: "sleep", input: { ms: 60_000, label: "slow" } },
        { id: "toolu_lookup", name: "lookup", input: { ms: 1_500, key: "k" } },
      ],
    };
  });
  const env = await journaledServerEnv(api.url, { AGENT_NODE_TTL_MS: "600" });
  let id: string;
  {
    await using first = await startServerProcess(env);
    id = (await request(`${first.url}/v1/conversations`, "POST", {})).body.id;
    // Neither reply ever comes: the process dies under them.
    sendWithoutWaiting(first.url, id, "first");
    await conversationWhen(first.url, id, (body) => body.status.callsInFlight.length === 2);
    sendWithoutWaiting(first.url, id, "second");
    await conversationWhen(first.url, id, (body) => body.status.queued === 1);
    first.child.kill("SIGKILL");
    assertEquals((await first.child.status).signal, "SIGKILL");
  }

  await using second = await startServerProcess(env);
  const { history }: { history: Anthropic.MessageParam[] } = await conversationWhen(
    second.url,
    id,
    (body) =>
      body.status.state === "idle" &&
      JSON.stringify(body.history.at(-1)).includes("Second answered."),
  );
  // user "first", assistant tool_use, tool results + "second"... in the order they happened.
  assertEquals(history.map((message) => message.role), [
    "user",
    "assistant",
    "user",
    "assistant",
    "user",
    "assistant",
  ]);
  assertEquals(history[0].content, [{ type: "text", text: "first" }]);
  const results = history[2].content as Anthropic.ToolResultBlockParam[];
  assertEquals(results.map((block) => [block.tool_use_id, block.is_error ?? false]), [
    ["toolu_slow", true],
    ["toolu_lookup", false],
  ]);
  assertStringIncludes(results[0].content as string, "Interrupted by a restart");
  assertEquals(results[1].content, "value of k", "the idempotent call was run once more");
  assertEquals(history[4].content, [{ type: "text", text: "second" }]);
  assert(second.log().includes("Listening"));
});

Deno.test("a background task whose process died is delivered as interrupted after the restart", async () => {
  await using api = startFakeMessagesApi((request) => {
    const last = lastUserText(request);
    if (last.includes("[Background task")) return { text: "Noted the interruption." };
    if (last.includes("tool_result")) return { text: "Report started." };
    return {
      toolCalls: [{ id: "toolu_bg", name: "slow_report", input: { ms: 60_000, topic: "x" } }],
    };
  });
  const env = await journaledServerEnv(api.url, { AGENT_NODE_TTL_MS: "600" });
  let id: string;
  let taskId: string;
  {
    await using first = await startServerProcess(env);
    id = (await request(`${first.url}/v1/conversations`, "POST", {})).body.id;
    const reply = await request(`${first.url}/v1/conversations/${id}/messages`, "POST", {
      content: "Write the report.",
    });
    assertEquals(reply.body.text, "Report started.");
    taskId = reply.body.toolCalls[0].taskId;
    first.child.kill("SIGKILL");
    await first.child.status;
  }
  await using second = await startServerProcess(env);
  const task = await eventually(async () => {
    const { body } = await request(`${second.url}/v1/tasks/${taskId}`, "GET");
    return body.task?.state === "interrupted" ? body : undefined;
  });
  assertStringIncludes(task.result, "Interrupted by a restart");
  const history = await conversationWhen(
    second.url,
    id,
    (body) => JSON.stringify(body.history).includes("Noted the interruption."),
  );
  assertStringIncludes(
    JSON.stringify(history.history),
    `[Background task ${taskId} (your slow_report call toolu_bg) ended as interrupted`,
  );
  assertEquals(history.status.tasks, []);
});

Deno.test("with the default 10 s TTL, a server restarted after kill -9 finishes every interrupted turn within TTL + 2 s of the last heartbeat", async () => {
  await using api = startFakeMessagesApi(sleepThenAnswer("Recovered."));
  const env = await journaledServerEnv(api.url); // no AGENT_NODE_TTL_MS: the default
  const { ids, lastBeat } = await crashMidCall(env, 3);
  // Restarted well within the TTL: its first sweep finds every lease still held.
  await using restarted = await startServerProcess(env);
  const finished = await finishTimes(restarted.url, ids, "Recovered.");
  for (const at of finished) assert(at - lastBeat <= 12_000, `took ${at - lastBeat} ms`);
});
