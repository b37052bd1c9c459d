import { assert, assertEquals, assertMatch } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { KvJournal } from "../src/journal/kv_journal.ts";
import { listValues, prepareValue, storeValue } from "../src/journal/_stored_value.ts";
import { MAX_RESULT_BYTES } from "../src/limit_result.ts";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { testSystem } from "./support/test_system.ts";

const bytesOf = (text: string) => new TextEncoder().encode(text).length;

Deno.test("values around the 64 KiB KV limit, and up to 1 MiB, are stored whole", async () => {
  await using journal = await KvJournal.open(":memory:");
  const sizes = [0, 59_999, 60_000, 60_001, 65_535, 65_536, 65_537, 500_000, MAX_RESULT_BYTES];
  for (const [i, size] of sizes.entries()) {
    // Two-byte characters straddle the chunk boundaries.
    const value = { text: "ä".repeat(Math.floor(size / 2)) + "z".repeat(size % 2) };
    const key = ["t", i];
    const { checks, mutations } = storeValue(await prepareValue(journal.kv, key, value));
    assert((await journal.kv.atomic().check(...checks).mutate(...mutations).commit()).ok);
  }
  const stored = await listValues<{ text: string }>(journal.kv, { prefix: ["t"] }, 2);
  assertEquals(stored.map(({ value }) => bytesOf(value.text)), sizes);
  for (const { value } of stored) assert(/^ä*z?$/.test(value.text));
});

Deno.test("tool results up to 1 MiB survive a restart whole; larger ones are cut with a marker the model reads", async () => {
  const sizes = [65_535, 65_536, 65_537, MAX_RESULT_BYTES, MAX_RESULT_BYTES + 1];
  await using api = startFakeMessagesApi([
    { toolCalls: sizes.map((bytes) => ({ name: "big", input: { bytes } })) },
    { text: "Read them all." },
  ]);
  const path = `${await Deno.makeTempDir()}/journal.kv`;
  let id: string;
  {
    await using system = await testSystem(api, {}, { journal: await KvJournal.open(path) });
    const conversation = await system.createConversation();
    id = conversation.id;
    assertEquals(
      (await conversation.send({ type: "user_message", text: "Big ones." })).status,
      "completed",
    );
  }
  await using restarted = await testSystem(api, {}, { journal: await KvJournal.open(path) });
  const history = (await restarted.get(id))!.history;
  const results = history[2].content as Anthropic.ToolResultBlockParam[];
  const contents = results.map((block) => block.content as string);
  assertEquals(contents.slice(0, 4).map(bytesOf), sizes.slice(0, 4));
  assertMatch(
    contents[4],
    new RegExp(
      `\\[Truncated by the runtime: the tool returned ${
        MAX_RESULT_BYTES + 1
      } bytes; only the first \\d+ bytes are kept\\.\\]$`,
    ),
  );
  assertEquals(bytesOf(contents[4]), MAX_RESULT_BYTES, "the cut result, note included, fits");
  const sent = api.requests[1].body.messages[2].content as Anthropic.ToolResultBlockParam[];
  assertEquals(sent.map((block) => block.content), contents, "the model got what was journaled");
  // The answer, as the API sent it (an unstreamed text block carries `citations: null`).
  assertEquals(history.at(-1), {
    role: "assistant",
    content: [{ type: "text", text: "Read them all.", citations: null }],
  });
});

Deno.test("an append that ends a turn can give the lease back in its own commit, and its holder writes nothing after", async () => {
  await using journal = await KvJournal.open(":memory:");
  const id = crypto.randomUUID();
  await journal.create(id, { type: "created", modelName: "claude-test", at: 0 });
  const taken = await journal.acquireLease(id, "node-a");
  if (!taken.ok) throw new Error(`the lease of a new conversation is held by ${taken.holder}`);
  const lease = taken.lease;
  const cause = { type: "user_message", messageId: "m1", text: "Hi" } as const;
  const started = { type: "turn_started", turn: 1, cause, at: 0 } as const;
  const seq = await journal.append(id, 0, [started], { lease });
  assertEquals(seq, 1);
  assertEquals(
    (await journal.kv.get(["lease", id])).versionstamp,
    lease,
    "a plain append keeps it",
  );

  const ended = {
    type: "turn_ended",
    status: "completed",
    stopReason: "end_turn",
    text: "",
  } as const;
  assertEquals(await journal.append(id, 1, [ended], { lease, releaseLease: true }), 2);
  assertEquals((await journal.kv.get(["lease", id])).value, null, "free for anyone");
  assertEquals(await journal.append(id, 2, [started], { lease }), undefined);
});

Deno.test("a turn starts with the lease taken in one commit only while nobody holds it and nothing follows in the log", async () => {
  await using journal = await KvJournal.open(":memory:");
  const id = crypto.randomUUID();
  await journal.create(id, { type: "created", modelName: "claude-test", at: 0 });
  const cause = { type: "user_message", messageId: "m1", text: "Hi" } as const;
  const started = { type: "turn_started", turn: 1, cause, at: 0 } as const;

  const taken = await journal.startTurnTakingLease(id, "node-a", 0, started);
  assertEquals(taken?.seq, 1);
  assertEquals((await journal.kv.get(["lease", id])).versionstamp, taken?.lease);
  assertEquals((await journal.load(id))?.state.openTurn?.turn, 1);
  // Held by node-a: node-b cannot start one, even after the right sequence number.
  assertEquals(await journal.startTurnTakingLease(id, "node-b", 1, started), undefined);

  await journal.releaseLease(id, taken!.lease);
  // Free again, but the log has moved on past 0: a process that has not seen record 1 is refused.
  assertEquals(await journal.startTurnTakingLease(id, "node-b", 0, started), undefined);
  assertEquals((await journal.kv.get(["lease", id])).value, null, "a refused start takes nothing");
});
