import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { callPolicies } from "../actors/scheduler/call_policies.ts";
import { KvJournal } from "../src/journal/kv_journal.ts";
import type { ConversationEvent } from "../src/events.ts";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { lastUserText, nextEvent, recordEvents, testSystem } from "./support/test_system.ts";
import { CallSlots } from "../actors/call_slots.ts";

// The scheduler's policies, each through a real system: real workers in
// tool hosts, the real SDK against the fake Messages API, a real journal.

const user = (text: string) => ({ type: "user_message" as const, text });

function resultsOf(request: { body: Anthropic.MessageCreateParams }) {
  return (request.body.messages.at(-1)!.content as Anthropic.ToolResultBlockParam[])
    .filter((block) => block.type === "tool_result");
}

function finished(events: ConversationEvent[]) {
  return events.flatMap((event) => event.type === "tool_call_finished" ? [event] : []);
}

Deno.test("a flaky idempotent tool is retried with backoff: each attempt journaled, one result for the model", async () => {
  let requests = 0;
  await using flaky = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => ++requests <= 2 ? new Response("busy", { status: 503 }) : new Response("fine"),
  );
  const url = `http://127.0.0.1:${flaky.addr.port}/`;
  await using api = startFakeMessagesApi([
    { toolCalls: [{ name: "flaky_fetch", input: { url } }] },
    { text: "Done." },
  ]);
  const journal = await KvJournal.open(":memory:");
  await using system = await testSystem(api, {
    policies: callPolicies({ retry: { retries: 2, backoffMs: 10 } }),
  }, { journal });
  const conversation = await system.createConversation();
  const events = recordEvents(conversation);
  const shown: unknown[] = []; // what GET's status says while each retry runs
  conversation.subscribe((event) => {
    if (event.type === "tool_call_retrying") {
      shown.push(conversation.status.callsInFlight[0].attempt);
    }
  });
  assertEquals((await conversation.send(user("Fetch it."))).status, "completed");
  assertEquals(shown, [2, 3]);
  assertEquals(requests, 3);
  const retrying = events.flatMap((event) => event.type === "tool_call_retrying" ? [event] : []);
  assertEquals(retrying.map((event) => [event.attempt, event.attempts]), [[2, 4], [3, 4]]);
  assertStringIncludes(retrying[0].previous, "HTTP 503");
  const [result] = resultsOf(api.requests.at(-1)!);
  assertEquals([result.content, result.is_error], ["fine", undefined]);
  assertEquals(finished(events)[0].attempts, 3);
  const attempts = (await journal.records(conversation.id)).flatMap(({ record }) =>
    record.type === "call" && record.state === "running" ? [record.attempts] : []
  );
  assertEquals(attempts, [1, 2, 3]);
});

Deno.test("a circuit breaker opens after consecutive failures, fails fast saying until when, and closes after a good trial", async () => {
  const clock = { now: Date.UTC(2026, 10, 22) };
  const call = (input: unknown) => [{ toolCalls: [{ name: "counter", input }] }, { text: "ok" }];
  await using api = startFakeMessagesApi([
    ...call({ fail: true }),
    ...call({ fail: true }),
    ...call({}), // refused: the breaker is open
    ...call({}), // the trial, after the cool-down
    ...call({}),
  ]);
  await using system = await testSystem(api, {
    policies: callPolicies({
      breaker: { failures: 2, cooldownMs: 60_000 },
      clock: () => clock.now,
    }),
  });
  const conversation = await system.createConversation();
  const events = recordEvents(conversation);
  for (let turn = 0; turn < 3; turn++) await conversation.send(user("Count."));
  const refused = resultsOf(api.requests[5])[0];
  assertEquals(refused.is_error, true);
  assertStringIncludes(refused.content as string, 'The tool "counter" is unavailable');
  assertStringIncludes(refused.content as string, new Date(clock.now + 60_000).toISOString());
  assertEquals(system.settings.policies.breakers.state("counter").state, "open");
  const started = events.filter((event) => event.type === "tool_call_started").length;
  clock.now += 60_000;
  await conversation.send(user("Count."));
  assertEquals(resultsOf(api.requests[7])[0].is_error, undefined, "the trial ran and succeeded");
  assertEquals(system.settings.policies.breakers.state("counter").state, "closed");
  await conversation.send(user("Count."));
  assertEquals(resultsOf(api.requests[9])[0].is_error, undefined);
  assertEquals(events.filter((event) => event.type === "tool_call_started").length, started + 2);
});

Deno.test("a tool's maxConcurrent holds across conversations under load; the rest wait as queued", async () => {
  const turn = [
    { toolCalls: [1, 2, 3].map(() => ({ name: "gated", input: { ms: 150 } })) },
    { text: "Done." },
  ];
  await using api = startFakeMessagesApi((_, i) => turn[i % 2]);
  await using system = await testSystem(api);
  const conversations = await Promise.all([1, 2, 3].map(() => system.createConversation()));
  const logs = conversations.map((conversation) => recordEvents(conversation));
  const results = await Promise.all(conversations.map((c) => c.send(user("Wait."))));
  assert(results.every((result) => result.status === "completed"));
  const runs = api.requests.flatMap((request) =>
    resultsOf(request).map((block) => JSON.parse(block.content as string))
  );
  assertEquals(runs.length, 9);
  for (const run of runs) {
    const running = runs.filter((other) =>
      other.startedAt <= run.startedAt && run.startedAt < other.endedAt
    );
    assert(running.length <= 2, `at most 2 at once, found ${running.length}`);
  }
  const queued = logs.flat().filter((event) =>
    event.type === "tool_call_queued" && event.waitingFor === "tool_limit"
  );
  // Two start at once; of the rest, those that found both running waited (how many depends
  // on how the three conversations' batches overlap).
  assert(queued.length >= 1, "calls beyond the limit wait as queued");
});

Deno.test("a critical call that fails cancels its running siblings and the turn goes on at once", async () => {
  await using api = startFakeMessagesApi([
    {
      toolCalls: [
        { id: "toolu_check", name: "critical_check", input: { ms: 50 } },
        { id: "toolu_wait", name: "hang", input: {} },
      ],
    },
    { text: "The check failed." },
  ]);
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const result = await conversation.send(user("Check."));
  assertEquals(result.status, "completed");
  const [check, wait] = resultsOf(api.requests.at(-1)!);
  assertEquals([check.is_error, check.content], [true, "the check failed"]);
  assertEquals(wait.is_error, true);
  assertEquals(
    wait.content,
    "Cancelled: the critical call critical_check (toolu_check) failed, so the turn went on without this one.",
  );
});

Deno.test("with every worker slot taken, interactive calls start before low-priority ones", async () => {
  // The one slot is held by a call that ends when the test answers its fetch.
  const release = Promise.withResolvers<void>();
  await using gate = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async () => (await release.promise, new Response("released")),
  );
  const holder = { name: "fetch_local", input: { url: `http://127.0.0.1:${gate.addr.port}/` } };
  const three = (name: string) => [1, 2, 3].map(() => ({ name, input: { ms: 1 } }));
  await using api = startFakeMessagesApi((request) => {
    if (resultsOf(request).length > 0) return { text: "Done." };
    const [{ text: asked }] = JSON.parse(lastUserText(request));
    return { toolCalls: asked === "hold" ? [holder] : three(asked) };
  });
  await using system = await testSystem(api, {
    slots: new CallSlots({ max: 1, maxQueued: 100 }),
  });
  const [holding, low, normal] = await Promise.all(
    [1, 2, 3].map(() => system.createConversation()),
  );
  const started: string[] = [];
  const queued: ConversationEvent[] = [];
  const allQueued = Promise.withResolvers<void>();
  for (const conversation of [low, normal]) {
    conversation.subscribe((event) => {
      if (event.type === "tool_call_started") started.push(event.name);
      if (event.type === "tool_call_queued" && queued.push(event) === 6) allQueued.resolve();
    });
  }
  const held = holding.send(user("hold"));
  await nextEvent(holding, "tool_call_started");
  const turns = [low.send(user("low_sleep"))];
  await nextEvent(low, "tool_call_queued"); // the low ones wait first
  turns.push(normal.send(user("sleep")));
  await allQueued.promise;
  release.resolve();
  assert([await held, ...await Promise.all(turns)].every((turn) => turn.status === "completed"));
  assertEquals(started, ["sleep", "sleep", "sleep", "low_sleep", "low_sleep", "low_sleep"]);
  assertEquals(
    queued.map((event) => event.type === "tool_call_queued" && event.priority).sort(),
    ["low", "low", "low", "normal", "normal", "normal"],
  );
});

Deno.test("a tool that declares breaker: false keeps running after any number of failures (run_javascript: the model's code failing is not an outage)", async () => {
  const code = (body: string) => ({
    toolCalls: [{ name: "run_javascript", input: { code: body } }],
  });
  const failing = Array.from({ length: 3 }, () => [code("throw new Error('bad code');"), {
    text: "ok",
  }]).flat();
  await using api = startFakeMessagesApi([...failing, code("return 42;"), { text: "ok" }]);
  await using system = await testSystem(api, {
    policies: callPolicies({ breaker: { failures: 2, cooldownMs: 60_000 } }),
  });
  const conversation = await system.createConversation();
  for (let turn = 0; turn < 4; turn++) await conversation.send(user("Run it."));
  assertStringIncludes(resultsOf(api.requests[5])[0].content as string, "bad code");
  assertStringIncludes(resultsOf(api.requests[7])[0].content as string, '"result":42');
  assertEquals(system.settings.policies.breakers.state("run_javascript").state, "closed");
});
