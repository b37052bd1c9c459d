/**
 * The columns of the turns benchmark: ways to hold a conversation with a
 * model that calls tools, each against the fake Messages API at a URL.
 *
 * @module
 */
import Anthropic from "@anthropic-ai/sdk";
import {
  createAnthropic,
  generateText,
  jsonSchema,
  type ModelMessage,
  stepCountIs,
  tool,
} from "./_deps.ts";
import { createRuntime } from "../../src/runtime.ts";
import { request, startServerProcess } from "../support/server_process.ts";
import type { FakeReply, RecordedRequest } from "../support/fake_messages_api.ts";
import burn from "./tools/burn.ts";
import wait from "./tools/wait.ts";
import { durableSteps, type LoopSteps } from "./_durable_loop.ts";

/** Sends one user message and resolves, once its turn has ended, with the tool results it got. */
export type Converse = (text: string) => Promise<number>;

/** One column: where its memory is measured, and how to start a conversation. */
export interface Driver extends AsyncDisposable {
  /** The process whose tree (it and its children) is measured. */
  pid: number;
  open(): Promise<Converse>;
}

const TOOLS_DIR = new URL("./tools/", import.meta.url).pathname;
const MODEL = "claude-bench";

/** The bench's tools as plain functions, for the in-process peers. */
const IN_PROCESS: Record<string, { description: string; inputSchema: object; run: Run }> = {
  wait,
  wait_reused: wait,
  burn,
};
type Run = (input: { ms: number }) => unknown;
/** Every column offers the model these tools, and only these. */
const TOOL_NAMES = Object.keys(IN_PROCESS);

/**
 * The fake model of the turn benches: a message `<tool> <calls> <ms>` gets
 * that many calls of that tool at once, and their results a short answer.
 */
export function benchReplies(request: RecordedRequest): FakeReply {
  const content = request.body.messages.at(-1)!.content;
  const blocks = typeof content === "string" ? [{ type: "text", text: content }] : content;
  if (blocks.some((block) => block.type === "tool_result")) return { text: "Done." };
  const asked = blocks.map((block) => block.type === "text" ? block.text : "").join("");
  const [name, count, ms] = asked.split(" ");
  return {
    toolCalls: Array.from({ length: Number(count) }, () => ({ name, input: { ms: Number(ms) } })),
  };
}

/** The loop with durable steps and its tools in another process: the platform's cost of both. */
export const FLOOR_COLUMN = "loop + KV + host process";

/** The columns, by name. */
export const DRIVERS: Record<string, (apiUrl: string) => Promise<Driver>> = {
  "this runtime": runtimeDriver,
  // Run with OTEL_DENO=true by the turns bench: the cost of tracing on.
  "this runtime (traced)": runtimeDriver,
  "this runtime (HTTP)": httpDriver,
  "SDK Promise.all loop": sdkLoopDriver,
  [FLOOR_COLUMN]: durableLoopDriver,
  "AI SDK generateText": aiSdkDriver,
};

/** The runtime as the CLI builds it: tool hosts, a journal file, the operator's defaults. */
async function runtimeDriver(apiUrl: string): Promise<Driver> {
  Deno.env.set("ANTHROPIC_API_KEY", "bench");
  Deno.env.set("ANTHROPIC_BASE_URL", apiUrl);
  // A fresh Deno KV file, unless the run names a journal (the PostgreSQL bench does).
  Deno.env.set(
    "AGENT_DATA",
    Deno.env.get("BENCH_AGENT_DATA") ?? `${await Deno.makeTempDir()}/journal.kv`,
  );
  const runtime = await createRuntime({
    toolDirs: [TOOLS_DIR],
    mcpServers: {},
    model: MODEL,
    timeoutMs: 60_000,
    turnLimitMs: 60_000,
    maxSteps: 20,
    system: undefined,
  }, { server: false });
  return {
    pid: Deno.pid,
    async open() {
      const conversation = await runtime.system.createConversation({ tools: TOOL_NAMES });
      return async (text) => {
        const result = await conversation.send({ type: "user_message", text });
        return result.toolCalls.filter((call) => call.status === "succeeded").length;
      };
    },
    [Symbol.asyncDispose]: () => runtime[Symbol.asyncDispose](),
  };
}

/** `deno task serve` in its own process, driven over loopback HTTP. */
async function httpDriver(apiUrl: string): Promise<Driver> {
  const server = await startServerProcess(
    {
      ANTHROPIC_API_KEY: "bench",
      ANTHROPIC_BASE_URL: apiUrl,
      AGENT_DATA: `${await Deno.makeTempDir()}/journal.kv`,
      AGENT_MODEL: MODEL,
    },
    ["--tools", TOOLS_DIR],
    { fixtures: false },
  );
  return {
    pid: server.child.pid,
    async open() {
      const { body } = await request(`${server.url}/v1/conversations`, "POST", {
        tools: TOOL_NAMES,
      });
      const messages = `${server.url}/v1/conversations/${body.id}/messages`;
      return async (content) => {
        const reply = await request(messages, "POST", { content });
        return (reply.body.toolCalls as { status: string }[])
          .filter((call) => call.status === "succeeded").length;
      };
    },
    [Symbol.asyncDispose]: () => server[Symbol.asyncDispose](),
  };
}

/** What a careful developer writes by hand: the SDK, and `Promise.all` over the turn's tool uses. */
function sdkLoopDriver(apiUrl: string): Promise<Driver> {
  const run = (name: string, input: unknown) => IN_PROCESS[name].run(input as { ms: number });
  return Promise.resolve(sdkLoop(apiUrl, { commit: () => {}, run }, async () => {}));
}

/** The same loop, each step durable and its tools in another process (`_durable_loop.ts`). */
async function durableLoopDriver(apiUrl: string): Promise<Driver> {
  const modules = TOOL_NAMES.map((name) => new URL(`./tools/${name}.ts`, import.meta.url).href);
  const steps = await durableSteps(modules);
  return sdkLoop(apiUrl, steps, async () => await steps[Symbol.asyncDispose]());
}

/**
 * The loop: each model call with the whole history, then the tool uses
 * of its reply at once. `steps.commit` is awaited where a step must be
 * durable before what follows (a reply before its calls run, a turn's end
 * before it returns); the message and the results commit beside the
 * request that carries them.
 */
function sdkLoop(apiUrl: string, steps: LoopSteps, dispose: () => Promise<void>): Driver {
  const client = new Anthropic({ apiKey: "bench", baseURL: apiUrl });
  const tools = Object.entries(IN_PROCESS).map(([name, { description, inputSchema }]) => ({
    name,
    description,
    input_schema: inputSchema as Anthropic.Tool.InputSchema,
  }));
  let conversations = 0;
  return {
    pid: Deno.pid,
    open() {
      const conversation = conversations++;
      const messages: Anthropic.MessageParam[] = [];
      const add = (message: Anthropic.MessageParam) => {
        messages.push(message);
        return steps.commit(conversation, message);
      };
      return Promise.resolve(async (text: string) => {
        let written = add({ role: "user", content: text });
        let results = 0;
        while (true) {
          const [response] = await Promise.all([
            client.messages.create({ model: MODEL, max_tokens: 1024, messages, tools }),
            written,
          ]);
          await add({ role: "assistant", content: response.content });
          const uses = response.content.filter((block) => block.type === "tool_use");
          if (uses.length === 0) return results;
          const content = await Promise.all(uses.map(async (use) => ({
            type: "tool_result" as const,
            tool_use_id: use.id,
            content: JSON.stringify(await steps.run(use.name, use.input)),
          })));
          results += content.length;
          written = add({ role: "user", content });
        }
      });
    },
    [Symbol.asyncDispose]: dispose,
  };
}

/** The Vercel AI SDK's multi-step `generateText`, which runs a step's tools at once. */
function aiSdkDriver(apiUrl: string): Promise<Driver> {
  const anthropic = createAnthropic({ apiKey: "bench", baseURL: `${apiUrl}/v1` });
  const tools = Object.fromEntries(
    Object.entries(IN_PROCESS).map(([name, { description, inputSchema, run }]) => [
      name,
      tool({
        description,
        inputSchema: jsonSchema<{ ms: number }>(inputSchema as never),
        execute: async (input) => await run(input),
      }),
    ]),
  );
  return Promise.resolve({
    pid: Deno.pid,
    open() {
      const messages: ModelMessage[] = [];
      return Promise.resolve(async (text: string) => {
        messages.push({ role: "user", content: text });
        const result = await generateText({
          model: anthropic(MODEL),
          messages,
          tools,
          stopWhen: stepCountIs(20),
          maxOutputTokens: 1024,
        });
        messages.push(...result.response.messages);
        return result.steps.reduce((sum, step) => sum + step.toolResults.length, 0);
      });
    },
    [Symbol.asyncDispose]: () => Promise.resolve(),
  });
}
