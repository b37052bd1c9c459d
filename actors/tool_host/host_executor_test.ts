import { assertEquals } from "@std/assert";
import { createAgentSystem } from "../../src/agent.ts";
import { DEFAULT_LIMITS, resolveLimits } from "../../src/tool_limits.ts";
import type { CatalogTool } from "../../src/tool_catalog.ts";
import type { RoutingExecutor } from "../routing_executor.ts";
import type { CallPreview } from "../tool_executor.ts";
import { startFakeMessagesApi } from "../../tests/support/fake_messages_api.ts";
import { eventually } from "../../tests/support/server_process.ts";
import { testCatalog } from "../../tests/support/test_system.ts";
import { HostExecutor } from "./host_executor.ts";

function previewOf(tool: CatalogTool, isolationKey?: string): CallPreview {
  const { moduleUrl, permissions } = tool;
  return {
    moduleUrl,
    permissions,
    limits: resolveLimits(tool.limits, DEFAULT_LIMITS),
    isolationKey,
  };
}

Deno.test("offered tools get a host of their profile before their first call, one per profile", async () => {
  const catalog = await testCatalog();
  await using executor = new HostExecutor();
  const [shout, sleep] = ["shout", "sleep"].map((name) => catalog.get(name)!);
  // shout and sleep share a profile: no permissions, one folder.
  executor.offer([previewOf(shout), previewOf(sleep)]);
  await eventually(() => Promise.resolve(executor.hosts === 1 || undefined));
  const outcome = await executor.run({
    ...previewOf(shout),
    name: "shout",
    callId: "toolu_1",
    input: { text: "hi" },
    timeoutMs: 10_000,
  });
  assertEquals([outcome.content, executor.hosts], ["HI", 1]);
});

Deno.test("a runtime starts a host for each tool profile as it starts, and none for a tool isolated per conversation", async () => {
  await using api = startFakeMessagesApi((request) => {
    const last = request.body.messages.at(-1)!.content;
    const answered = typeof last !== "string" && last.some((block) => block.type === "tool_result");
    return answered ? { text: "Done." } : { toolCalls: [{ name: "current_time", input: {} }] };
  });
  await using agents = await createAgentSystem({
    apiKey: "sk-ant-test",
    baseURL: api.url,
    journal: ":memory:",
    // Three profiles (none; the network; reading the working folder) and run_javascript, isolated.
    builtinTools: true,
  });
  const hosts = (agents.settings.executor as RoutingExecutor).modules as HostExecutor;
  await eventually(() => Promise.resolve(hosts.hosts === 3 || undefined));
  const conversation = await agents.createConversation();
  const result = await conversation.send({ type: "user_message", text: "The time?" });
  assertEquals([result.status, result.toolCalls[0].status], ["completed", "succeeded"]);
  assertEquals(
    hosts.hosts,
    3,
    "the first call found its host warm, and none was started for run_javascript",
  );
});
