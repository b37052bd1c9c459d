/**
 * OpenTelemetry traces through Deno's own exporter, received by a real
 * OTLP/HTTP (JSON) endpoint on loopback.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { FIXTURE_TOOLS } from "./support/test_system.ts";
import { eventually, startServerProcess } from "./support/server_process.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** An OTLP span as the JSON encoding has it, with its attributes flattened. */
interface ReceivedSpan {
  name: string;
  spanId: string;
  parentSpanId: string;
  status: { code?: number };
  attributes: Record<string, unknown>;
}

type OtlpValue = {
  stringValue?: string;
  intValue?: string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values: OtlpValue[] };
};

function valueOf(value: OtlpValue): unknown {
  if (value.arrayValue) return value.arrayValue.values.map(valueOf);
  if (value.intValue !== undefined) return Number(value.intValue);
  return value.stringValue ?? value.doubleValue ?? value.boolValue;
}

/** An OTLP/HTTP receiver: `spans` of the scope `agent-runtime`, `others` of Deno's own. */
function startOtlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const others: ReceivedSpan[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const body = await request.json();
    if (new URL(request.url).pathname === "/v1/traces") {
      for (const { scopeSpans } of body.resourceSpans) {
        for (const { scope, spans: received } of scopeSpans) {
          for (const span of received) {
            const attributes = Object.fromEntries(
              span.attributes.map((
                a: { key: string; value: OtlpValue },
              ) => [a.key, valueOf(a.value)]),
            );
            (scope.name === "agent-runtime" ? spans : others).push({ ...span, attributes });
          }
        }
      }
    }
    return Response.json({});
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    spans,
    others,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** The CLI, traced, against the API at `apiUrl`, or with no key (the offline model) without one. */
async function runTraced(apiUrl: string | undefined, endpoint: string) {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--no-check",
      MAIN,
      "--model",
      "claude-traced",
      "--tools",
      FIXTURE_TOOLS.pathname,
      "Go.",
    ],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      ...(apiUrl ? { ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: apiUrl } : {}),
      AGENT_DATA: ":memory:",
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "50",
    },
    stderr: "null",
  }).output();
  return { code, stdout: new TextDecoder().decode(stdout) };
}

const TURN = [
  {
    usage: { input_tokens: 120, output_tokens: 30 },
    toolCalls: [
      { name: "sleep", input: { ms: 50 } },
      { name: "fail", input: { reason: "on purpose" } },
    ],
  },
  { text: "One slept, one failed.", usage: { input_tokens: 200, output_tokens: 8 } },
];

Deno.test("with OTEL_DENO=true a turn's span holds its model and tool calls' spans, with GenAI attributes", async () => {
  await using receiver = startOtlpReceiver();
  await using api = startFakeMessagesApi(TURN);
  const { code, stdout } = await runTraced(api.url, receiver.endpoint);
  assertEquals(code, 0);
  assertStringIncludes(stdout, "One slept, one failed.");

  const turns = receiver.spans.filter((span) =>
    span.attributes["gen_ai.operation.name"] === "invoke_agent"
  );
  assertEquals(turns.length, 1);
  const [turn] = turns;
  assertEquals(turn.parentSpanId ?? "", "");
  assertEquals(turn.attributes["gen_ai.usage.input_tokens"], 320);
  assertEquals(turn.attributes["gen_ai.usage.output_tokens"], 38);
  const conversation = turn.attributes["gen_ai.conversation.id"];

  const chats = receiver.spans
    .filter((span) => span.attributes["gen_ai.operation.name"] === "chat")
    .sort((a, b) =>
      Number(a.attributes["agent_runtime.step"]) - Number(b.attributes["agent_runtime.step"])
    );
  assertEquals(chats.map((span) => [span.name, span.parentSpanId]), [
    ["chat claude-traced", turn.spanId],
    ["chat claude-traced", turn.spanId],
  ]);
  assertEquals(chats.map((span) => span.attributes["gen_ai.request.model"]), [
    "claude-traced",
    "claude-traced",
  ]);
  assertEquals(chats.map((span) => span.attributes["gen_ai.usage.input_tokens"]), [120, 200]);
  assertEquals(chats[0].attributes["gen_ai.response.finish_reasons"], ["tool_use"]);
  // Deno's span of each request to the API hangs under its model call's span.
  const requests = receiver.others.filter((span) =>
    String(span.attributes["url.full"]).startsWith(api.url)
  );
  assertEquals(
    requests.map((span) => span.parentSpanId).sort(),
    chats.map((span) => span.spanId).sort(),
  );

  const tools = receiver.spans
    .filter((span) => span.attributes["gen_ai.operation.name"] === "execute_tool")
    .sort((a, b) => a.name.localeCompare(b.name));
  assertEquals(
    tools.map((
      span,
    ) => [
      span.name,
      span.parentSpanId,
      span.attributes["gen_ai.tool.name"],
      span.attributes["agent_runtime.tool.status"],
      span.status.code ?? 0,
    ]),
    [
      ["execute_tool fail", turn.spanId, "fail", "failed", 2],
      ["execute_tool sleep", turn.spanId, "sleep", "succeeded", 0],
    ],
  );
  assertEquals(tools[0].attributes["error.type"], "tool_error");
  for (const span of [...chats, ...tools]) {
    assertEquals(span.attributes["gen_ai.conversation.id"], conversation);
  }
  assert(
    tools.every((span) => String(span.attributes["gen_ai.tool.call.id"]).startsWith("toolu_")),
  );
});

Deno.test("the offline model's spans say so: provider and model offline, not Anthropic's", async () => {
  await using receiver = startOtlpReceiver();
  const { code } = await runTraced(undefined, receiver.endpoint);
  assertEquals(code, 0);
  const chats = receiver.spans.filter((span) =>
    span.attributes["gen_ai.operation.name"] === "chat"
  );
  assert(chats.length > 0);
  for (const span of chats) {
    assertEquals(span.name, "chat offline");
    assertEquals(span.attributes["gen_ai.provider.name"], "offline");
    assertEquals(span.attributes["gen_ai.request.model"], "offline");
  }
});

Deno.test("deno task serve's request spans name the URL the client used, not the front door's inner hop", async () => {
  await using receiver = startOtlpReceiver();
  await using server = await startServerProcess({
    AGENT_DATA: ":memory:",
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "50",
  });
  await (await fetch(`${server.url}/v1/tools?from=test`)).body?.cancel();
  const served = await eventually(() =>
    Promise.resolve(
      receiver.others.find((span) => String(span.attributes["url.full"]).includes("/v1/tools")),
    )
  );
  assertEquals(served.attributes["url.full"], `${server.url}/v1/tools?from=test`);
  assertEquals(served.attributes["url.scheme"], "http");
});

Deno.test("an OTLP endpoint that does not answer never breaks a turn", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  listener.close();
  await using api = startFakeMessagesApi(TURN);
  const { code, stdout } = await runTraced(api.url, `http://127.0.0.1:${listener.addr.port}`);
  assertEquals(code, 0);
  assertStringIncludes(stdout, "One slept, one failed.");
});
