import { assert, assertAlmostEquals, assertEquals, assertMatch } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { delay } from "@std/async/delay";
import { KvJournal } from "../src/journal/kv_journal.ts";
import { startFakeMessagesApi, systemOf } from "./support/fake_messages_api.ts";
import {
  eventOf,
  failureOf,
  lastUserText,
  nextEvent,
  recordEvents,
  testSystem,
} from "./support/test_system.ts";

const user = (text: string) => ({ type: "user_message" as const, text });

/** The tool_result blocks of the last request the fake received. */
function lastResults(api: { requests: { body: Anthropic.MessageCreateParams }[] }) {
  const content = api.requests.at(-1)!.body.messages.at(-1)!
    .content as Anthropic.ToolResultBlockParam[];
  return content.filter((block) => block.type === "tool_result");
}

Deno.test("all tool calls of a response run at once", async () => {
  // Each call fetches from a server that answers no one until all four have asked:
  // calls that ran one after another would each wait out their timeout.
  let arrived = 0;
  const all = Promise.withResolvers<void>();
  await using rendezvous = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async () => {
      if (++arrived === 4) all.resolve();
      await all.promise;
      return new Response(`answered with ${arrived} waiting`);
    },
  );
  const url = `http://127.0.0.1:${rendezvous.addr.port}/`;
  await using api = startFakeMessagesApi([
    { toolCalls: [1, 2, 3, 4].map(() => ({ name: "fetch_local", input: { url } })) },
    { text: "All done." },
  ]);
  await using system = await testSystem(api, { defaultTimeoutMs: 30_000 });
  const conversation = await system.createConversation();
  const result = await conversation.send(user("Fetch four times."));
  assertEquals(result.status, "completed");
  assertEquals(
    lastResults(api).map((block) => [block.content, block.is_error]),
    Array(4).fill(["answered with 4 waiting", undefined]),
  );
});

Deno.test("tool results go back in one message, in tool_use order, with their ids", async () => {
  await using api = startFakeMessagesApi([
    {
      text: "Let me check.",
      toolCalls: [
        { id: "toolu_slow", name: "sleep", input: { ms: 200, label: "slow" } },
        { id: "toolu_fast", name: "sleep", input: { ms: 1, label: "fast" } },
        { id: "toolu_shout", name: "shout", input: { text: "hey" } },
      ],
    },
    { text: "Done." },
  ]);
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const result = await conversation.send(user("Go."));
  assertEquals(result.status, "completed");
  assertEquals(api.requests.length, 2);
  const results = lastResults(api);
  assertEquals(results.map((block) => block.tool_use_id), [
    "toolu_slow",
    "toolu_fast",
    "toolu_shout",
  ]);
  assertEquals(results.map((block) => block.is_error), [undefined, undefined, undefined]);
  assertEquals(JSON.parse(results[0].content as string).label, "slow");
  assertEquals(results[2].content, "HEY");
  assertEquals(api.requests[1].body.messages.length, 3);
  assertEquals(result.toolCalls.map((call) => [call.callId, call.status]), [
    ["toolu_slow", "succeeded"],
    ["toolu_fast", "succeeded"],
    ["toolu_shout", "succeeded"],
  ]);
});

Deno.test("every kind of failure reaches the model as an is_error result", async () => {
  await using api = startFakeMessagesApi([
    {
      toolCalls: [
        { id: "toolu_throw", name: "fail", input: { reason: "test" } },
        { id: "toolu_bad_input", name: "sleep", input: { ms: "soon" } },
        { id: "toolu_unknown", name: "teleport", input: {} },
        { id: "toolu_timeout", name: "hang", input: {} },
        { id: "toolu_denied", name: "read_hosts", input: {} },
        { id: "toolu_zod", name: "shout", input: { text: "quiet please" } },
        { id: "toolu_ok", name: "shout", input: { text: "fine" } },
      ],
    },
    { text: "I see the errors." },
  ]);
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const result = await conversation.send(user("Break things."));
  assertEquals(result.status, "completed");
  const byId = Object.fromEntries(lastResults(api).map((block) => [block.tool_use_id, block]));
  for (
    const id of [
      "toolu_throw",
      "toolu_bad_input",
      "toolu_unknown",
      "toolu_timeout",
      "toolu_denied",
      "toolu_zod",
    ]
  ) {
    assertEquals(byId[id].is_error, true, id);
  }
  assertEquals(byId.toolu_ok.is_error, undefined);
  assertEquals(byId.toolu_throw.content, "failed on purpose: test");
  assertEquals(byId.toolu_bad_input.content, "Invalid input: input.ms must be integer");
  assertEquals(
    byId.toolu_unknown.content,
    `Unknown tool "teleport". Available tools: ${
      system.settings.catalog.names.toSorted().join(", ")
    }.`,
  );
  assertEquals(byId.toolu_timeout.content, "The tool timed out after 300 ms and was stopped.");
  assertMatch(
    byId.toolu_denied.content as string,
    /^NotCapable: Requires read access to "\/etc\/hosts"/,
  );
  assertEquals(byId.toolu_zod.content, "Invalid input: text: must not say quiet");
  assertEquals(
    result.toolCalls.map((call) => call.status),
    ["failed", "failed", "failed", "timed_out", "failed", "failed", "succeeded"],
  );
  await new Promise((resolve) => setTimeout(resolve, 150)); // the timed-out worker's grace period
});

Deno.test("a conversation limited to some tools treats the others as unknown", async () => {
  await using api = startFakeMessagesApi([
    { toolCalls: [{ id: "toolu_1", name: "fail", input: {} }] },
    { text: "ok" },
  ]);
  await using system = await testSystem(api);
  const conversation = await system.createConversation({ tools: ["shout"] });
  await conversation.send(user("hi"));
  assertEquals(api.requests[0].body.tools?.map((tool) => (tool as Anthropic.Tool).name), ["shout"]);
  assertEquals(lastResults(api)[0].content, 'Unknown tool "fail". Available tools: shout.');
});

Deno.test("a tool without declared env access cannot read the API key", async () => {
  Deno.env.set("ANTHROPIC_API_KEY", "sk-ant-must-not-leak");
  try {
    await using api = startFakeMessagesApi([
      { toolCalls: [{ id: "toolu_env", name: "read_secret", input: {} }] },
      { text: "ok" },
    ]);
    await using system = await testSystem(api);
    const conversation = await system.createConversation();
    await conversation.send(user("Read the key."));
    const [result] = lastResults(api);
    assertEquals(result.is_error, true);
    assertMatch(result.content as string, /Requires env access/);
    assert(!JSON.stringify(api.requests.at(-1)!.body).includes("sk-ant-must-not-leak"));
  } finally {
    Deno.env.delete("ANTHROPIC_API_KEY");
  }
});

Deno.test("the loop runs several steps and streams text as it arrives", async () => {
  await using api = startFakeMessagesApi([
    { text: "Step one.", toolCalls: [{ name: "shout", input: { text: "a" } }] },
    { text: "Step two.", toolCalls: [{ name: "shout", input: { text: "b" } }] },
    { text: "The answer is AB.", eventDelayMs: 2 },
  ]);
  await using system = await testSystem(api);
  const conversation = await system.createConversation({ system: "Be terse." });
  const events = recordEvents(conversation);
  const result = await conversation.send(user("Shout a then b."));
  assertEquals(result, {
    ...result,
    status: "completed",
    stopReason: "end_turn",
    text: "The answer is AB.",
    steps: 3,
  });
  assertEquals(api.requests.map(systemOf), [
    "Be terse.",
    "Be terse.",
    "Be terse.",
  ]);
  assertEquals(api.requests.every((request) => request.body.stream === true), true);
  const deltas = events.filter((event) => event.type === "text_delta");
  assert(deltas.length > 3, "text arrives in pieces");
  assertEquals(deltas.map((event) => event.text).join(""), "Step one.Step two.The answer is AB.");
  assertEquals(conversation.history.map((message) => message.role), [
    "user",
    "assistant",
    "user",
    "assistant",
    "user",
    "assistant",
  ]);
});

Deno.test("a conversation nobody watches asks the model in one piece, and its events still carry the text", async () => {
  await using api = startFakeMessagesApi([
    { text: "Step one.", toolCalls: [{ name: "shout", input: { text: "a" } }] },
    { text: "The answer is A." },
    { text: "Again, A." },
  ]);
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const result = await conversation.send(user("Shout a."));
  assertEquals(result, { ...result, status: "completed", text: "The answer is A." });
  assertEquals(api.requests.map((request) => request.body.stream ?? false), [false, false]);
  // Who reconnects later still reads every answer, one delta per model call.
  const unwatched = await Array.fromAsync(conversation.eventsAfter(0));
  const deltas = unwatched.filter((event) => event.type === "text_delta");
  assertEquals(deltas.map((event) => event.text), ["Step one.", "The answer is A."]);
  // The next model call is announced after the results it carries, as when watched.
  const live = await Array.fromAsync(conversation.eventsAfter(unwatched[0].id)); // from memory, as it happened
  assertEquals(live.map((event) => event.type).slice(3, 8), [
    "tool_call_started",
    "tool_call_finished",
    "tool_batch_finished",
    "model_call_started",
    "text_delta",
  ]);
  // Once someone watches, the same conversation streams again.
  const events = recordEvents(conversation);
  await conversation.send(user("Again."));
  assertEquals(api.requests.map((request) => request.body.stream ?? false), [false, false, true]);
  assert(events.some((event) => event.type === "text_delta"));
});

Deno.test("a message to an idle conversation starts its turn in the commit that accepts it; one sent during a turn waits in the inbox", async () => {
  await using api = startFakeMessagesApi((request) => {
    const last = lastUserText(request);
    if (last.includes("tool_result")) return { text: "Slept." };
    if (last.includes("sleep")) return { toolCalls: [{ name: "sleep", input: { ms: 300 } }] };
    return { text: "Hello." };
  });
  const journal = await KvJournal.open(":memory:");
  const inboxWrites: string[] = [];
  for (const method of ["enqueue", "enqueueTakingLease"] as const) {
    const original = journal[method].bind(journal) as (...args: unknown[]) => unknown;
    journal[method] = ((...args: unknown[]) => {
      inboxWrites.push(method);
      return original(...args);
    }) as never;
  }
  await using system = await testSystem(api, {}, { journal });
  const conversation = await system.createConversation();
  const sleeping = nextEvent(conversation, "tool_call_started");
  const first = conversation.send(user("sleep please"));
  await sleeping;
  const second = conversation.send(user("hello"));
  assertEquals((await first).status, "completed");
  assertEquals(await second, { ...await second, status: "completed", text: "Hello." });
  assertEquals(inboxWrites, ["enqueue"], "only the message sent during a turn");
  assertEquals(await journal.inbox(conversation.id), []);
  assertEquals((await journal.kv.get(["lease", conversation.id])).value, null, "given back");
  assertEquals(conversation.history.map((message) => message.role), [
    "user",
    "assistant",
    "user",
    "assistant",
    "user",
    "assistant",
  ]);
});

Deno.test("max steps stops the loop with an error and leaves a valid history", async () => {
  await using api = startFakeMessagesApi((request) =>
    request.body.messages.length > 6
      ? { text: "Finally." }
      : { toolCalls: [{ name: "shout", input: { text: "again" } }] }
  );
  await using system = await testSystem(api, { maxSteps: 3 });
  const conversation = await system.createConversation();
  const result = await conversation.send(user("Loop forever."));
  assertEquals(failureOf(result).type, "max_steps");
  assertEquals(result.steps, 3);
  assertEquals(conversation.history.at(-1)!.role, "user");
  // The fake rejects invalid histories, so a next turn proves this one is valid.
  const next = await conversation.send(user("Stop now."));
  assertEquals(next.status, "completed");
  assertEquals(api.requests.at(-1)!.body.messages.length, 7);
});

Deno.test("a final API error ends the turn with the API's message; the history stays valid", async () => {
  await using api = startFakeMessagesApi([
    {
      status: 400,
      errorType: "invalid_request_error",
      message: "max_tokens: must be at most 64000",
    },
    { text: "Recovered." },
  ]);
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const failed = await conversation.send(user("First."));
  assertEquals(failureOf(failed), {
    type: "invalid_request_error",
    message: "max_tokens: must be at most 64000",
  });
  assertEquals(api.requests.length, 1, "a 400 is not retried");
  const next = await conversation.send(user("Second."));
  assertEquals(next.status, "completed");
  assertEquals(api.requests[1].body.messages, [{
    role: "user",
    content: [{ type: "text", text: "First." }, { type: "text", text: "Second." }],
  }]);
});

Deno.test("an authentication error is final and reported as such", async () => {
  await using api = startFakeMessagesApi([{
    status: 401,
    errorType: "authentication_error",
    message: "invalid x-api-key",
  }]);
  await using system = await testSystem(api);
  const result = await (await system.createConversation()).send(user("hi"));
  assertEquals(failureOf(result), { type: "authentication_error", message: "invalid x-api-key" });
});

Deno.test("overloaded (529) and rate-limited (429) responses are retried by the SDK", async () => {
  await using api = startFakeMessagesApi([
    {
      status: 529,
      errorType: "overloaded_error",
      message: "Overloaded",
      headers: { "retry-after-ms": "10" },
    },
    {
      status: 429,
      errorType: "rate_limit_error",
      message: "Slow down",
      headers: { "retry-after-ms": "10" },
    },
    { text: "Made it." },
  ]);
  await using system = await testSystem(api);
  const result = await (await system.createConversation()).send(user("hi"));
  assertEquals(result.status, "completed");
  assertEquals(api.requests.length, 3);
});

Deno.test("two conversations run at once in one process, each with its own history", async () => {
  await using api = startFakeMessagesApi((request) => {
    const last = request.body.messages.at(-1)!;
    const prompt = JSON.stringify(last.content);
    if (prompt.includes("tool_result")) return { text: `done ${request.body.messages.length}` };
    const who = prompt.includes("alpha") ? "alpha" : "beta";
    return { toolCalls: [{ name: "sleep", input: { ms: 300, label: who } }] };
  });
  await using system = await testSystem(api);
  const [a, b] = [await system.createConversation(), await system.createConversation()];
  const [ra, rb] = await Promise.all([a.send(user("alpha")), b.send(user("beta"))]);
  assertEquals([ra.status, rb.status], ["completed", "completed"]);
  const run = (c: typeof a) =>
    JSON.parse((c.history[2].content as Anthropic.ToolResultBlockParam[])[0].content as string);
  const [runA, runB] = [run(a), run(b)];
  assertEquals([runA.label, runB.label], ["alpha", "beta"]);
  assert(
    Math.max(runA.startedAt, runB.startedAt) < Math.min(runA.endedAt, runB.endedAt),
    "the conversations overlapped",
  );
  assert(a.id !== b.id && await system.get(a.id) === a);
});

Deno.test("messages to one conversation are processed one at a time, in order", async () => {
  await using api = startFakeMessagesApi((request) => {
    const last = JSON.stringify(request.body.messages.at(-1)!.content);
    if (last.includes("tool_result")) return { text: "ok" };
    return {
      toolCalls: [{
        name: "sleep",
        input: { ms: 300, label: last.includes("first") ? "first" : "second" },
      }],
    };
  });
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const events = recordEvents(conversation);
  const first = conversation.send(user("first"));
  const second = conversation.send(user("second"));
  // The second waits in the mailbox while the first turn runs.
  while (conversation.status.queued === 0 || conversation.status.state !== "running") {
    await delay(5);
  }
  assertEquals(conversation.status.queued, 1);
  await Promise.all([first, second]);
  const turns = events.filter((event) =>
    event.type === "turn_started" || event.type === "turn_finished"
  ).map((event) => event.type);
  assertEquals(turns, ["turn_started", "turn_finished", "turn_started", "turn_finished"]);
  // The second message reached the model only with the whole first turn before it.
  assertEquals(api.requests[2].body.messages.length, 5);
  assertEquals(api.requests[2].body.messages[4].content, [{ type: "text", text: "second" }]);
  assertEquals(conversation.status, { state: "idle", queued: 0, callsInFlight: [], tasks: [] });
});

Deno.test("events report each call's start, finish and the batch's wall and summed time", async () => {
  await using api = startFakeMessagesApi([
    { toolCalls: [{ name: "sleep", input: { ms: 50 } }, { name: "sleep", input: { ms: 50 } }] },
    { text: "ok" },
  ]);
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const events = recordEvents(conversation);
  const before = Date.now();
  await conversation.send(user("go"));
  const after = Date.now();
  const types = events.map((event) => event.type);
  assertEquals(types.filter((type) => type === "tool_call_started").length, 2);
  assertEquals(types.filter((type) => type === "tool_call_progress").length, 2);
  assertEquals(types.filter((type) => type === "tool_call_finished").length, 2);
  const batch = eventOf(events, "tool_batch_finished");
  assertEquals(batch.count, 2);
  // The summed time is the calls' own times; the wall time covers the longest of them.
  const finished = events.flatMap((event) => event.type === "tool_call_finished" ? [event] : []);
  assertAlmostEquals(batch.summedMs, finished[0].ms + finished[1].ms, 0.01);
  assert(batch.wallMs >= Math.max(...finished.map((call) => call.ms)));
  // Stamped with the time each happened, in order.
  const times = events.map((event) => event.at);
  assertEquals(times, times.toSorted((a, b) => a - b));
  assert(times[0] >= before && times.at(-1)! <= after, `${times} within ${before}..${after}`);
});

Deno.test("idle conversations beyond maxLoaded are dropped from memory and reload whole from the journal", async () => {
  await using api = startFakeMessagesApi((request) => ({ text: `Echo: ${lastUserText(request)}` }));
  await using system = await testSystem(api, {}, { maxLoaded: 3, evictAfterMs: 0 });
  const watched = await system.createConversation();
  const unsubscribe = watched.subscribe(() => {});
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) {
    const conversation = await system.createConversation();
    await conversation.send(user(`hello ${i}`));
    ids.push(conversation.id);
    await system.sweep();
    assert(system.loaded <= 4, `${system.loaded} loaded after ${i + 1} conversations`);
  }
  assertEquals(await system.get(watched.id), watched, "a conversation with a listener stays");
  const reloaded = (await system.get(ids[0]))!;
  assertEquals(reloaded.history.length, 2);
  assertEquals((await reloaded.send(user("again"))).status, "completed");
  assertEquals(reloaded.history.length, 4);
  unsubscribe();
});

Deno.test("a sweep that sees a message in the inbox before its sender posts it leaves it to the sender: one turn, and the sender gets its answer", async () => {
  await using api = startFakeMessagesApi((request) => ({ text: `Echo: ${lastUserText(request)}` }));
  const journal = await KvJournal.open(":memory:");
  // As when another process wrote last: the message cannot start its turn at once, so it goes
  // through the inbox.
  journal.startTurnTakingLease = () => Promise.resolve(undefined);
  // Holds the sender between putting its message in the inbox and posting it.
  const enqueued = Promise.withResolvers<void>();
  const proceed = Promise.withResolvers<void>();
  const enqueue = journal.enqueueTakingLease.bind(journal);
  journal.enqueueTakingLease = async (...args) => {
    const entry = await enqueue(...args);
    enqueued.resolve();
    await proceed.promise;
    return entry;
  };
  await using system = await testSystem(api, {}, { journal });
  const conversation = await system.createConversation();
  const sent = conversation.send(user("hello"));
  await enqueued.promise;
  await conversation.wake(); // as the server's sweep does every second
  proceed.resolve();
  const result = await sent;
  assertEquals(result.status, "completed");
  await conversation.settled();
  assertEquals(conversation.history.length, 2, "the message ran once");
  assertEquals(api.requests.length, 1);
});
