/**
 * A tool may return images and documents: they reach the model as
 * `tool_result` content blocks (journaled whole, chunked past Deno KV's
 * value limit), events describe them, and one past the result limit is an
 * error result that says the limit. MCP images are passed on the same way.
 */
import { assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { recordEvents, testSystem } from "./support/test_system.ts";
import { EVERYTHING } from "./support/mcp_servers.ts";
import { KvJournal } from "../src/journal/kv_journal.ts";
import { createAgentSystem } from "../mod.ts";

/** The `tool_result` blocks a request ended with, by the call they answer. */
function resultsIn(request: { body: Anthropic.MessageCreateParams }) {
  const blocks = request.body.messages.at(-1)!.content as Anthropic.ToolResultBlockParam[];
  return Object.fromEntries(blocks.map((block) => [block.tool_use_id, block]));
}

Deno.test("a tool's image and PDF reach the model as tool_result blocks, and a restart keeps them", async () => {
  await using api = startFakeMessagesApi([
    {
      toolCalls: [
        { id: "toolu_chart", name: "picture", input: { kind: "chart" } },
        { id: "toolu_report", name: "picture", input: { kind: "report" } },
        { id: "toolu_huge", name: "picture", input: { kind: "huge" } },
      ],
    },
    { text: "A rising line." },
    { text: "Still rising." },
  ]);
  const path = `${await Deno.makeTempDir()}/journal.kv`;
  let id: string;
  {
    await using system = await testSystem(api, {}, { journal: await KvJournal.open(path) });
    const conversation = await system.createConversation();
    id = conversation.id;
    const events = recordEvents(conversation);
    const result = await conversation.send("Show me Q3.");
    assertEquals(result.status, "completed");
    const finished = events.flatMap((event) =>
      event.type === "tool_call_finished" ? [[event.callId, event.content]] : []
    );
    assertMatch(
      String(Object.fromEntries(finished).toolu_chart),
      /^Revenue by month:\n\[image image\/png, \d+ bytes\]$/,
    );
  }
  const seen = resultsIn(api.requests[1]);
  const chart = seen.toolu_chart.content as Anthropic.ContentBlockParam[];
  assertEquals(chart.map((block) => block.type), ["text", "image"]);
  assertEquals((seen.toolu_report.content as Anthropic.DocumentBlockParam[])[0].source, {
    type: "base64",
    media_type: "application/pdf",
    data: "JVBERi0xLjQK",
  });
  assertEquals(seen.toolu_huge.is_error, true);
  assertStringIncludes(String(seen.toolu_huge.content), "more than the 1048576 a result may hold");
  await using restarted = await testSystem(api, {}, { journal: await KvJournal.open(path) });
  await (await restarted.get(id))!.send("And now?");
  const again = resultsIn({
    body: { ...api.requests[2].body, messages: api.requests[2].body.messages.slice(0, 3) },
  });
  assertEquals(again.toolu_chart.content, chart, "the same image, from the journal");
});

Deno.test("an MCP server's image reaches the model as an image block", async () => {
  await using api = startFakeMessagesApi([
    { toolCalls: [{ id: "toolu_tiny", name: "everything__get-tiny-image", input: {} }] },
    { text: "A tiny image." },
  ]);
  await using agents = await createAgentSystem({
    apiKey: "sk-ant-test",
    baseURL: api.url,
    mcpServers: { everything: EVERYTHING },
  });
  const result = await (await agents.createConversation()).send("Show it.");
  assertEquals(result.status, "completed");
  const blocks = resultsIn(api.requests[1]).toolu_tiny.content as Anthropic.ContentBlockParam[];
  const image = blocks.find((block) => block.type === "image") as Anthropic.ImageBlockParam;
  assertEquals((image.source as Anthropic.Base64ImageSource).media_type, "image/png");
});
