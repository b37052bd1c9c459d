import { assertEquals, assertMatch } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { CallSlots } from "../actors/call_slots.ts";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { readEvents, startTestServer } from "./support/test_server.ts";
import { testSystem } from "./support/test_system.ts";

const post = (url: string, body: unknown) =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

Deno.test("calls beyond the worker cap wait as queued (in events and GET); a full line gets 503 with Retry-After and an error result", async () => {
  await using api = startFakeMessagesApi((request) => {
    const last = request.body.messages.at(-1)!;
    if (JSON.stringify(last.content).includes("tool_result")) return { text: "done" };
    return {
      toolCalls: Array.from({ length: 5 }, (_, i) => ({
        name: "sleep",
        input: { ms: 300, label: `${i}` },
      })),
    };
  });
  await using system = await testSystem(api, {
    slots: new CallSlots({ max: 2, maxQueued: 2 }),
  });
  await using server = startTestServer(system);
  const { id } = await (await post(`${server.url}/v1/conversations`, {})).json();
  const { id: other } = await (await post(`${server.url}/v1/conversations`, {})).json();
  const stream = await fetch(`${server.url}/v1/conversations/${id}/events`);
  const watching = readEvents(stream, (event) => event.type === "turn_finished");
  const turn = post(`${server.url}/v1/conversations/${id}/messages`, { content: "five" })
    .then((r) => r.json());

  let status;
  do {
    await new Promise((resolve) => setTimeout(resolve, 20));
    status = (await (await fetch(`${server.url}/v1/conversations/${id}`)).json()).status;
  } while (
    status.callsInFlight.filter((call: { state: string }) => call.state === "queued").length < 2
  );
  const busy = await post(`${server.url}/v1/conversations/${other}/messages`, { content: "hi" });
  assertEquals(busy.status, 503);
  assertEquals(busy.headers.get("retry-after"), "5");
  assertEquals((await busy.json()).error.type, "server_busy");

  const result = await turn;
  const statuses = result.toolCalls.map((call: { status: string }) => call.status).sort();
  assertEquals(statuses, ["failed", "succeeded", "succeeded", "succeeded", "succeeded"]);
  const events = await watching;
  assertEquals(events.filter((event) => event.type === "tool_call_queued").length, 3);
  const { history } = await (await fetch(`${server.url}/v1/conversations/${id}`)).json();
  const refused = (history[2].content as Anthropic.ToolResultBlockParam[])
    .find((block) => block.is_error)!;
  assertMatch(String(refused.content), /^The runtime is at capacity/);
  // Never more than two at once: when any call starts, at most one other is still running.
  const runs = (history[2].content as Anthropic.ToolResultBlockParam[])
    .filter((block) => !block.is_error)
    .map((block) => JSON.parse(String(block.content)) as { startedAt: number; endedAt: number });
  for (const run of runs) {
    const live = runs.filter((other) =>
      other.startedAt <= run.startedAt && run.startedAt < other.endedAt
    );
    assertEquals(live.length <= 2, true, JSON.stringify(runs));
  }
});
