import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { postJson, readEvents, startTestServer } from "./support/test_server.ts";
import { testSystem } from "./support/test_system.ts";
import { eventually } from "./support/server_process.ts";

const post = postJson;

/** A model that asks for 3 parallel sleeps labelled with the prompt, then answers with the prompt. */
function threeToolModel() {
  return startFakeMessagesApi((request) => {
    const messages = request.body.messages;
    const last = messages.at(-1)!.content as Anthropic.ContentBlockParam[];
    const prompt = (messages.at(-1)!.role === "user" && last[0].type === "text")
      ? last[0].text
      : "";
    if (last[0].type === "tool_result") {
      const first = messages.find((message) => message.role === "user")!
        .content as Anthropic.TextBlockParam[];
      return { text: `done: ${first.at(-1)!.text}` };
    }
    return {
      toolCalls: [1, 2, 3].map((n) => ({
        name: "sleep",
        input: { ms: 100, label: `${prompt}#${n}` },
      })),
    };
  });
}

Deno.test("50 conversations driven at once over HTTP, each turn with 3 parallel tools", async () => {
  await using api = threeToolModel();
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const ids: string[] = await Promise.all(
    Array.from(
      { length: 50 },
      async () => (await (await post(`${server.url}/v1/conversations`, {})).json()).id,
    ),
  );
  const replies = await Promise.all(
    ids.map(async (id, i) =>
      await (await post(`${server.url}/v1/conversations/${id}/messages`, { content: `conv${i}` }))
        .json()
    ),
  );
  for (const [i, reply] of replies.entries()) {
    assertEquals([reply.status, reply.text], ["completed", `done: conv${i}`]);
    assertEquals(reply.toolCalls.map((call: { status: string }) => call.status), [
      "succeeded",
      "succeeded",
      "succeeded",
    ]);
  }
  for (const [i, id] of ids.entries()) {
    const { history } = await (await fetch(`${server.url}/v1/conversations/${id}`)).json();
    const results = history[2].content.map((block: { content: string }) =>
      JSON.parse(block.content).label
    );
    assertEquals(results, [`conv${i}#1`, `conv${i}#2`, `conv${i}#3`]);
  }
});

Deno.test("a message sent with Accept: text/event-stream streams its turn's events", async () => {
  await using api = threeToolModel();
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const { id } = await (await post(`${server.url}/v1/conversations`, {})).json();
  const before = Date.now();
  const response = await post(`${server.url}/v1/conversations/${id}/messages`, {
    content: "streamed",
  }, {
    accept: "text/event-stream",
  });
  assertEquals(response.headers.get("content-type"), "text/event-stream");
  const events = await readEvents(response);
  const after = Date.now();
  const types = events.map((event) => event.type);
  assertEquals(types[0], "turn_started");
  assertEquals(types.at(-1), "turn_finished");
  assertEquals(types.filter((type) => type === "tool_call_finished").length, 3);
  assert(events.every((event, i) => i === 0 || event.id > events[i - 1].id), "ids increase");
  const times = events.map((event) => event.at as number);
  assertEquals(times, times.toSorted((a, b) => a - b), "stamped in order");
  assert(times[0] >= before && times.at(-1)! <= after, `${times} within ${before}..${after}`);
});

Deno.test("GET /events streams every event live while another client drives the turn", async () => {
  await using api = threeToolModel();
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const { id } = await (await post(`${server.url}/v1/conversations`, {})).json();
  // The stream is subscribed once its headers are here: nothing of the turn can be missed.
  const stream = await fetch(`${server.url}/v1/conversations/${id}/events`);
  const watching = readEvents(stream, (event) => event.type === "turn_finished");
  const reply =
    await (await post(`${server.url}/v1/conversations/${id}/messages`, { content: "watched" }))
      .json();
  const events = await watching;
  assertEquals(reply.status, "completed");
  assertEquals(events.filter((event) => event.type === "tool_call_started").length, 3);
  assertEquals(events.at(-1)!.type, "turn_finished");
});

Deno.test("cancel stops the running turn; its calls come back as errors and the history stays valid", async () => {
  await using api = startFakeMessagesApi((request) =>
    JSON.stringify(request.body.messages.at(-1)!.content).includes("tool_result")
      ? { text: "after cancel" }
      : {
        toolCalls: [{ name: "sleep", input: { ms: 10_000 } }, {
          name: "sleep",
          input: { ms: 10_000 },
        }],
      }
  );
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const { id } = await (await post(`${server.url}/v1/conversations`, {})).json();
  const turn = post(`${server.url}/v1/conversations/${id}/messages`, { content: "slow" }).then((
    r,
  ) => r.json());
  let status;
  do {
    await new Promise((resolve) => setTimeout(resolve, 20));
    status = (await (await fetch(`${server.url}/v1/conversations/${id}`)).json()).status;
  } while (status.callsInFlight.length < 2);
  assertEquals(status.state, "running");
  assertEquals(await (await post(`${server.url}/v1/conversations/${id}/cancel`, {})).json(), {
    cancelled: true,
  });
  const result = await turn;
  assertEquals(result.status, "failed");
  assertEquals(result.error.type, "cancelled");
  assertEquals(result.toolCalls.map((call: { status: string }) => call.status), [
    "cancelled",
    "cancelled",
  ]);
  const { history } = await (await fetch(`${server.url}/v1/conversations/${id}`)).json();
  assertEquals(history[2].content.map((block: { is_error: boolean }) => block.is_error), [
    true,
    true,
  ]);
  const next =
    await (await post(`${server.url}/v1/conversations/${id}/messages`, { content: "go on" }))
      .json();
  assertEquals(next.status, "completed");
  await new Promise((resolve) => setTimeout(resolve, 150)); // the cancelled workers' grace period
});

Deno.test("messages to a busy conversation queue behind the running turn, none dropped", async () => {
  await using api = threeToolModel();
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const { id } = await (await post(`${server.url}/v1/conversations`, {})).json();
  const replies = await Promise.all(
    ["one", "two", "three"].map((content) =>
      post(`${server.url}/v1/conversations/${id}/messages`, { content }).then((r) => r.json())
    ),
  );
  assertEquals(replies.map((reply) => reply.status), ["completed", "completed", "completed"]);
  const { history } = await (await fetch(`${server.url}/v1/conversations/${id}`)).json();
  assertEquals(history.length, 12);
  assertEquals(
    history.filter((_: unknown, i: number) => i % 4 === 0).map((
      m: { content: { text: string }[] },
    ) => m.content[0].text),
    ["one", "two", "three"],
  );
});

Deno.test("a client that disconnects mid-turn does not cancel it; the result is recorded", async () => {
  await using api = threeToolModel();
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const { id } = await (await post(`${server.url}/v1/conversations`, {})).json();
  const controller = new AbortController();
  const response = await fetch(`${server.url}/v1/conversations/${id}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ content: "leaving" }),
    signal: controller.signal,
  });
  await readEvents(response, (event) => event.type === "tool_call_started");
  controller.abort();
  let conversation;
  do {
    await new Promise((resolve) => setTimeout(resolve, 50));
    conversation = await (await fetch(`${server.url}/v1/conversations/${id}`)).json();
  } while (conversation.status.state === "running");
  assertEquals(conversation.history.length, 4);
  assertStringIncludes(JSON.stringify(conversation.history[3]), "done: leaving");
});

Deno.test("event streams are capped so that watchers never take every connection; a closed one frees its slot", async () => {
  await using api = startFakeMessagesApi(() => ({ text: "Hi." }));
  await using system = await testSystem(api);
  await using server = startTestServer(system, { maxEventStreams: 2 });
  const { id } = await (await post(`${server.url}/v1/conversations`, {})).json();
  const watch = () => fetch(`${server.url}/v1/conversations/${id}/events`);
  const [first, second] = [await watch(), await watch()];
  assertEquals([first.status, second.status], [200, 200]);
  const refused = await watch();
  assertEquals(refused.status, 503);
  assertEquals((await refused.json()).error.type, "too_many_streams");
  // A streamed message is a stream too; a plain one is not.
  const streamedMessage = await post(`${server.url}/v1/conversations/${id}/messages`, {
    content: "Hello",
  }, { accept: "text/event-stream" });
  assertEquals(streamedMessage.status, 503);
  await streamedMessage.body?.cancel();
  const plain = await post(`${server.url}/v1/conversations/${id}/messages`, { content: "Hello" });
  assertEquals(plain.status, 200);
  await plain.body?.cancel();

  await first.body!.cancel();
  // The slot is freed once the server sees the client leave.
  const again = await eventually(async () => {
    const response = await watch();
    if (response.status === 200) return response;
    await response.body?.cancel();
  });
  await again.body!.cancel();
  await second.body!.cancel();
});
