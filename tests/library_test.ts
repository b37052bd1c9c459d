/**
 * The package used as a user outside this repository uses it: a folder of
 * their own with the library page's files (docs/library.md), copied verbatim.
 */
import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { ConfigError, createAgentSystem, OfflineModel } from "../mod.ts";
import { dirname, join } from "node:path";
import { startFakeMessagesApi, systemOf } from "./support/fake_messages_api.ts";

const REPOSITORY = new URL("..", import.meta.url).pathname;
const MAIN = join(REPOSITORY, "main.ts");
const LIBRARY_PAGE = "docs/library.md";

/** The library page's code blocks that start with a `// path` line, by that path. */
async function pageFiles(): Promise<Map<string, string>> {
  const page = await Deno.readTextFile(join(REPOSITORY, LIBRARY_PAGE));
  const section = page.split("\n## ")[0];
  const files = new Map<string, string>();
  for (const [, code] of section.matchAll(/```\w+\n([\s\S]*?)```/g)) {
    const path = code.match(/^\/\/ (\S+)\n/)?.[1];
    if (path) files.set(path, code);
  }
  return files;
}

/** A project folder beside a link named `agent-runtime` to this repository, as the library page says. */
async function userProject(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "agent_user_" });
  await Deno.symlink(REPOSITORY, join(root, "agent-runtime"));
  const project = join(root, "app");
  for (const [path, code] of await pageFiles()) {
    await Deno.mkdir(dirname(join(project, path)), { recursive: true });
    await Deno.writeTextFile(join(project, path), code);
  }
  return project;
}

async function run(args: string[], cwd: string, env: Record<string, string>) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { ...Deno.env.toObject(), ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

/** A model that asks for one `shout` call, then answers with what it got. */
function shoutingApi() {
  return startFakeMessagesApi((request) => {
    const last = request.body.messages.at(-1)!.content;
    const result = typeof last === "string"
      ? undefined
      : last.find((block) => block.type === "tool_result") as { content: string } | undefined;
    if (!result) return { toolCalls: [{ name: "shout", input: { text: "hello" } }] };
    return { text: `The tool said ${result.content}.` };
  });
}

Deno.test("a program outside the repository runs a conversation with a tool of its own, as the library page shows", async () => {
  const project = await userProject();
  await using api = shoutingApi();
  const { code, stdout, stderr } = await run(["run", "-A", "agent.ts"], project, {
    ANTHROPIC_API_KEY: "sk-ant-test",
    ANTHROPIC_BASE_URL: api.url,
  });
  assertEquals(code, 0, stderr);
  assertEquals(stdout.trim(), "The tool said HELLO.");
  assertStringIncludes(stderr, "shout: succeeded");
  assertEquals(systemOf(api.requests[0]), "Be brief.");
  await Deno.stat(join(project, ".agent/journal.kv")); // the journal option was honoured
});

Deno.test("a tools folder outside the repository loads with --tools", async () => {
  const project = await userProject();
  await using api = shoutingApi();
  const { code, stdout, stderr } = await run(
    ["run", "-A", MAIN, "--json", "--tools", join(project, "my_tools"), "Shout hello."],
    REPOSITORY,
    { ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: api.url, AGENT_DATA: ":memory:" },
  );
  assertEquals(code, 0, stderr);
  const finished = stdout.trim().split("\n").map((line) => JSON.parse(line))
    .find((event) => event.type === "tool_call_finished");
  assertEquals([finished?.name, finished?.status, finished?.content], [
    "shout",
    "succeeded",
    "HELLO",
  ]);
});

Deno.test("a tool resolves its imports by its own project's deno.json, and nothing is written into the runtime's files", async () => {
  const project = await Deno.makeTempDir({ prefix: "agent_tool_project_" });
  await Deno.writeTextFile(
    join(project, "deno.json"),
    JSON.stringify({ imports: { "greeting/": "./lib/" } }),
  );
  await Deno.mkdir(join(project, "lib"));
  await Deno.writeTextFile(
    join(project, "lib", "hello.ts"),
    "export const hello = (name: string) => `hello, ${name}`;\n",
  );
  await Deno.mkdir(join(project, "tools"));
  await Deno.writeTextFile(
    join(project, "tools", "greet.ts"),
    `import { hello } from "greeting/hello.ts";
export default {
  name: "greet",
  description: "Greets someone.",
  inputSchema: { type: "object", properties: { name: { type: "string" } } },
  run: ({ name }: { name: string }) => hello(name),
};
`,
  );
  const lock = await Deno.readTextFile(join(REPOSITORY, "deno.lock"));
  const { code, stdout, stderr } = await run(
    ["task", "run", "--json", "--tools", join(project, "tools"), 'call greet {"name": "Ada"}'],
    REPOSITORY,
    { ANTHROPIC_API_KEY: "", AGENT_DATA: ":memory:" },
  );
  assertEquals(code, 0, stderr);
  const finished = stdout.trim().split("\n").map((line) => JSON.parse(line))
    .find((event) => event.type === "tool_call_finished");
  assertEquals([finished?.status, finished?.content], ["succeeded", "hello, Ada"]);
  assertEquals(
    await Deno.readTextFile(join(REPOSITORY, "deno.lock")),
    lock,
    "the lock is as it was",
  );
});

Deno.test("deno task run downloads none of the benchmark's or the browser tests' dependencies", async () => {
  // Deno fetches every package that deno.json maps or deno.lock holds, on every fresh machine.
  const config = await Deno.readTextFile(join(REPOSITORY, "deno.json"));
  const lock = await Deno.readTextFile(join(REPOSITORY, "deno.lock"));
  const ownDeps = await Promise.all(
    ["tests/bench/_deps.ts", "tests/browser/_deps.ts"].map((path) =>
      Deno.readTextFile(join(REPOSITORY, path))
    ),
  );
  const packages = ownDeps.flatMap((deps) =>
    [...deps.matchAll(/"npm:(@?[^@"]+)@/g)].map(([, name]) => name)
  );
  assertEquals(packages, ["@ai-sdk/anthropic", "ai", "autocannon", "playwright-core"]);
  for (const name of packages) {
    assertEquals(config.includes(`npm:${name}@`), false, `deno.json maps ${name}`);
    assertEquals(lock.includes(`"${name}@`), false, `deno.lock holds ${name}`);
  }
});

Deno.test("bad library options are refused with a ConfigError that says what to fix", async () => {
  const refused = (options: Parameters<typeof createAgentSystem>[0], message: string) =>
    assertRejects(() => createAgentSystem(options), ConfigError, message);
  await refused({}, "give `apiKey` (an Anthropic API key) or `model`");
  await refused({ apiKey: "k", model: new OfflineModel() }, "either `apiKey` or `model`, not both");
  await refused({ apiKey: "k", timeoutMs: 0 }, "timeoutMs:");
  await refused({ apiKey: "k", limits: { memoryMb: 1 } }, "limits.memoryMb:");
  await refused(
    { apiKey: "k", tools: ["./no/such/tools/"] },
    "Cannot read the tool module or folder",
  );
});
