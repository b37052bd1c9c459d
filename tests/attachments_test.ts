/**
 * Images and documents in a person's message: from the library, over HTTP
 * and with the CLI's --attach, checked at the boundary, journaled (chunked,
 * so a restart loses none) and sent to the model as content blocks.
 */
import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { encodeBase64 } from "@std/encoding/base64";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { testSystem } from "./support/test_system.ts";
import { postJson, startTestServer } from "./support/test_server.ts";
import { KvJournal } from "../src/journal/kv_journal.ts";
import { ConfigError } from "../src/config_error.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Bytes that stand for an image of `size` bytes (the fake does not decode images). */
const imageOf = (size: number): string => encodeBase64(new Uint8Array(size).fill(137));

/** The blocks of the user message a request ended with. */
const lastUserBlocks = (request: { body: Anthropic.MessageCreateParams }) =>
  request.body.messages.at(-1)!.content as Anthropic.ContentBlockParam[];

Deno.test("the library sends an image with a question; the journal keeps it whole across a restart", async () => {
  await using api = startFakeMessagesApi([{ text: "A grey square." }, { text: "Still grey." }]);
  const path = `${await Deno.makeTempDir()}/journal.kv`;
  // Larger than a KV value may be: the journal chunks it.
  const data = imageOf(300_000);
  const image = {
    type: "image",
    source: { type: "base64", media_type: "image/png", data },
  } as const;
  let id: string;
  {
    await using system = await testSystem(api, {}, { journal: await KvJournal.open(path) });
    const conversation = await system.createConversation();
    id = conversation.id;
    const result = await conversation.send([{ type: "text", text: "What is this?" }, image]);
    assertEquals(result.status, "completed");
  }
  assertEquals(lastUserBlocks(api.requests[0]), [{ type: "text", text: "What is this?" }, image]);
  await using restarted = await testSystem(api, {}, { journal: await KvJournal.open(path) });
  const conversation = (await restarted.get(id))!;
  await conversation.send("And now?");
  const history = api.requests[1].body.messages[0].content as Anthropic.ContentBlockParam[];
  assertEquals(history[1], image, "sent again, byte for byte");
});

Deno.test("the library refuses blocks the API would refuse, saying which and why", async () => {
  await using api = startFakeMessagesApi([]);
  await using system = await testSystem(api);
  const conversation = await system.createConversation();
  const bad = [{
    type: "image",
    source: { type: "base64", media_type: "image/bmp", data: imageOf(10) },
  }] as never;
  await assertRejects(
    () => conversation.send(bad),
    ConfigError,
    "content.0.source.media_type: must be one of image/jpeg",
  );
  assertEquals(api.requests.length, 0);
});

Deno.test("over HTTP a message may be content blocks: images by URL or base64 beyond 1 MiB, documents; bad ones get a 400 that says why", async () => {
  await using api = startFakeMessagesApi([{ text: "Read both." }]);
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const { id } = await (await postJson(`${server.url}/v1/conversations`, {})).json();
  const messages = `${server.url}/v1/conversations/${id}/messages`;
  const content = [
    { type: "text", text: "Compare these." },
    { type: "image", source: { type: "url", url: "https://example.com/chart.png" } },
    {
      type: "image",
      source: { type: "base64", media_type: "image/jpeg", data: imageOf(2_000_000) },
    },
    {
      type: "document",
      title: "notes.txt",
      source: { type: "text", media_type: "text/plain", data: "Q3 up." },
    },
  ];
  const sent = await postJson(messages, { content });
  assertEquals(sent.status, 200, await sent.clone().text());
  assertEquals((await sent.json()).status, "completed");
  assertEquals(lastUserBlocks(api.requests[0]), content);
  const cases: [unknown, string][] = [
    [
      [{ type: "image", source: { type: "base64", media_type: "image/tiff", data: "AAAA" } }],
      "media_type",
    ],
    [[{
      type: "image",
      source: { type: "base64", media_type: "image/png", data: imageOf(5 * 1024 * 1024 + 3) },
    }], "an image may be at most 5 MiB"],
    [
      [{ type: "image", source: { type: "url", url: "http://example.com/a.png" } }],
      "must be an https URL",
    ],
    [[{ type: "video", source: {} }], 'each block is {type: "text" | "image" | "document"'],
    [[], "must hold at least one block"],
  ];
  for (const [content, message] of cases) {
    const refused = await postJson(messages, { content });
    assertEquals(refused.status, 400, message);
    assertStringIncludes((await refused.json()).error.message, message);
  }
  assertEquals(api.requests.length, 1, "nothing refused reached the API");
});

Deno.test("--attach sends images, PDFs and text files with the prompt; other files are refused", async () => {
  await using api = startFakeMessagesApi([{ text: "Seen." }]);
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/chart.png`, new Uint8Array([137, 80, 78, 71]));
  await Deno.writeFile(`${dir}/report.pdf`, new TextEncoder().encode("%PDF-1.4 test"));
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--no-check", MAIN, ...args],
      env: {
        AGENT_DATA: ":memory:",
        ANTHROPIC_API_KEY: "sk-ant-test",
        ANTHROPIC_BASE_URL: api.url,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
  const ok = await run("--attach", `${dir}/chart.png`, "--attach", `${dir}/report.pdf`, "Explain.");
  assertEquals(ok.code, 0, new TextDecoder().decode(ok.stderr));
  const blocks = lastUserBlocks(api.requests[0]) as {
    type: string;
    source?: { media_type?: string };
  }[];
  assertEquals(blocks.map((block) => [block.type, block.source?.media_type]), [
    ["text", undefined],
    ["image", "image/png"],
    ["document", "application/pdf"],
  ]);
  const refused = await run("--attach", `${dir}/tool.exe`, "Run it.");
  assertEquals(refused.code, 2);
  assertStringIncludes(
    new TextDecoder().decode(refused.stderr),
    "--attach takes images, PDFs and text files",
  );
});
