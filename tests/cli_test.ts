import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { FIXTURE_TOOLS } from "./support/test_system.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const fixtures = FIXTURE_TOOLS.pathname;

/** Runs the CLI as a user would, in its own process. */
async function cli(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}) {
  const env: Record<string, string> = {
    ...Deno.env.toObject(),
    AGENT_DATA: ":memory:",
    ...options.env,
  };
  if (!options.env?.ANTHROPIC_API_KEY) delete env.ANTHROPIC_API_KEY;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", MAIN, ...args],
    env,
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

const withApi = (url: string) => ({ ANTHROPIC_API_KEY: "sk-ant-test", ANTHROPIC_BASE_URL: url });

Deno.test("--help prints the usage and exits 0", async () => {
  const { code, stdout } = await cli(["--help"]);
  assertEquals(code, 0);
  assertStringIncludes(stdout, "Usage: deno task run");
  assertStringIncludes(stdout, "--max-steps N");
});

Deno.test("bad flags get a clear message and exit 2", async () => {
  for (
    const [args, message] of [
      [["--frobnicate"], "Unknown flag --frobnicate. Run with --help to see the flags."],
      [
        ["--max-steps", "zero", "hi"],
        '--max-steps must be a whole number from 1 to 1000, got "zero".',
      ],
      [
        ["--timeout", "-5", "hi"],
        '"-5" is not a flag; --timeout, --turn-limit, --max-steps and --max-tokens take positive whole numbers.',
      ],
      [["--timeout", "0", "hi"], '--timeout must be a whole number from 1 to 3600000, got "0".'],
      [["--model"], "--model needs a value."],
      [
        ["--mcp", "everything", "hi"],
        '--mcp takes NAME=COMMAND ARGS… or NAME=https://…, got "everything".',
      ],
      [["--mcp", "a=x", "--mcp", "a=y", "hi"], "--mcp names the server a twice."],
      [
        ["--mcp-approve", "files=write_file", "hi"],
        "--mcp-approve names files, which no --mcp flag starts.",
      ],
      [["--mcp", "a=x", "--mcp-tools", "a", "hi"], '--mcp-tools takes SERVER=TOOL,TOOL…, got "a".'],
      [
        ["--mcp", "gone=/no/such/mcp-server", "hi"],
        "The MCP server gone (/no/such/mcp-server) did not start: there is no such command",
      ],
      [["--tools", "/no/such/dir", "hi"], "Cannot read the tool module or folder /no/such/dir"],
      [
        ["--thinking", "lots", "hi"],
        '--thinking must be "adaptive", "off" or a budget in tokens (at least 1024), got "lots".',
      ],
      [
        ["--thinking", "99999", "hi"],
        "a thinking budget is a whole number of tokens from 1024 to 8191",
      ],
      [
        ["--effort", "extreme", "hi"],
        '--effort must be one of low, medium, high, xhigh, max, got "extreme".',
      ],
    ]
  ) {
    const { code, stderr } = await cli(args as string[]);
    assertEquals(code, 2, `${args}: ${stderr}`);
    assertStringIncludes(stderr, message as string);
    assert(!stderr.includes("    at "), "no stack trace");
  }
});

Deno.test("a prompt runs one conversation: text on stdout, tool activity on stderr", async () => {
  await using api = startFakeMessagesApi([
    {
      text: "Checking.",
      toolCalls: [1, 2, 3].map((n) => ({ name: "sleep", input: { ms: 100 * n } })),
    },
    { text: "All three slept." },
  ]);
  const { code, stdout, stderr } = await cli([
    "--tools",
    fixtures,
    "--model",
    "claude-x",
    "Sleep thrice.",
  ], {
    env: withApi(api.url),
  });
  assertEquals(code, 0, stderr);
  assertEquals(stdout, "Checking.\nAll three slept.\n");
  assertEquals(stderr.match(/^✓ sleep \{"ms":\d+\} \d+\.\d\d s$/gm)?.length, 3, stderr);
  assertMatch(stderr, /^3 tools in parallel: 0\.\d\d s wall, \d\.\d\d s summed$/m);
  assertEquals(api.requests[0].body.model, "claude-x");
  assertEquals(api.requests[0].headers.get("authorization"), "Bearer sk-ant-test");
});

Deno.test("--thinking shows the model's thinking dimmed on stderr, and --hide-thinking does not", async () => {
  for (const hide of [false, true]) {
    await using api = startFakeMessagesApi([{ thinking: "Weighing the words.", text: "Hello." }]);
    const { code, stdout, stderr } = await cli([
      "--thinking",
      "adaptive",
      "--effort",
      "low",
      ...(hide ? ["--hide-thinking"] : []),
      "Say hello.",
    ], { env: withApi(api.url) });
    assertEquals(code, 0, stderr);
    assertEquals(stdout, "Hello.\n");
    assertEquals(stderr.includes("\x1b[2mWeighing"), !hide, stderr);
    assertEquals(api.requests[0].body.thinking, { type: "adaptive" });
  }
});

Deno.test("--json prints one JSON event per line on stdout", async () => {
  await using api = startFakeMessagesApi([
    { toolCalls: [{ name: "shout", input: { text: "x" } }] },
    { text: "X it is." },
  ]);
  const { code, stdout } = await cli(["--json", "--tools", fixtures, "shout x"], {
    env: withApi(api.url),
  });
  assertEquals(code, 0);
  const events = stdout.trim().split("\n").map((line) => JSON.parse(line));
  const types = events.map((event) => event.type);
  assertEquals(types[0], "turn_started");
  assertEquals(types.at(-1), "turn_finished");
  assert(types.includes("tool_call_started") && types.includes("tool_call_finished"));
  assertEquals(events.at(-1).text, "X it is.");
});

Deno.test("a final API error is printed with the API's message and exits 1", async () => {
  await using api = startFakeMessagesApi([{
    status: 401,
    errorType: "authentication_error",
    message: "invalid x-api-key",
  }]);
  const { code, stderr } = await cli(["hi"], { env: withApi(api.url) });
  assertEquals(code, 1);
  assertStringIncludes(stderr, "Error (authentication_error): invalid x-api-key");
  assert(!stderr.includes("    at "), "no stack trace");
});

Deno.test("the API key is invisible even to a tool granted full env access", async () => {
  await using api = startFakeMessagesApi([
    { toolCalls: [{ id: "toolu_env", name: "env_dump", input: {} }] },
    { text: "Nothing secret here." },
  ]);
  const { code } = await cli(["--tools", fixtures, "dump env"], {
    env: { ...withApi(api.url), VISIBLE_TO_TOOLS: "yes" },
  });
  assertEquals(code, 0);
  const result =
    (api.requests[1].body.messages[2].content as { content: string; is_error?: boolean }[])[0];
  assertEquals(result.is_error, undefined);
  assertEquals(JSON.parse(result.content).VISIBLE_TO_TOOLS, "yes");
  assert(!result.content.includes("sk-ant-test"), "the key must not reach the tool");
});

Deno.test("--max-steps is enforced and reported as an error", async () => {
  await using api = startFakeMessagesApi(() => ({
    toolCalls: [{ name: "current_time", input: {} }],
  }));
  const { code, stderr } = await cli(["--max-steps", "2", "loop"], { env: withApi(api.url) });
  assertEquals(code, 1);
  assertStringIncludes(stderr, "Stopped after 2 model calls without a final answer");
  assertEquals(api.requests.length, 2);
});

Deno.test("--timeout applies to tools that declare none; the process exits despite a spinning tool", async () => {
  await using api = startFakeMessagesApi([
    { toolCalls: [{ name: "spin", input: {} }, { name: "sleep", input: { ms: 5_000 } }] },
    { text: "Gave up on both." },
  ]);
  const { code, stdout, stderr } = await cli(["--timeout", "200", "--tools", fixtures, "spin"], {
    env: withApi(api.url),
  });
  assertEquals(code, 0, stderr);
  assertEquals(stdout, "Gave up on both.\n");
  assertMatch(stderr, /⏱ spin timed out \d+\.\d\d s: The tool timed out after 300 ms/);
  assertMatch(stderr, /⏱ sleep \{.*\} timed out \d+\.\d\d s: The tool timed out after 200 ms/);
});

Deno.test("a call that needs approval is put to the person at stdin: y runs it, anything else denies it", async () => {
  await using api = startFakeMessagesApi([
    { toolCalls: [{ name: "guarded", input: { say: "one" } }] },
    { toolCalls: [{ name: "guarded", input: { say: "two" } }] },
    { text: "Done." },
  ]);
  const { code, stderr } = await cli(["--tools", fixtures, "say things"], {
    env: withApi(api.url),
    stdin: "y\nno\n",
  });
  assertEquals(code, 0, stderr);
  assertStringIncludes(stderr, 'Run guarded {"say":"one"}? [y/N]');
  const results = api.requests.slice(1).map((request) =>
    (request.body.messages.at(-1)!.content as Anthropic.ToolResultBlockParam[])[0]
  );
  assertEquals(results, [
    { type: "tool_result", tool_use_id: results[0].tool_use_id, content: "said: one" },
    {
      type: "tool_result",
      tool_use_id: results[1].tool_use_id,
      content: "The call was denied, so it did not run: denied at the command line",
      is_error: true,
    },
  ]);
});

Deno.test("without an API key the offline model runs real tools in parallel workers", async () => {
  const { code, stdout, stderr } = await cli(["count these four words"]);
  assertEquals(code, 0, stderr);
  assertStringIncludes(stderr, "No ANTHROPIC_API_KEY: using the built-in offline demo model");
  assertMatch(stderr, /^3 tools in parallel: /m);
  assertStringIncludes(
    stdout,
    '- run_javascript: {"result":{"words":4,"characters":22},"logs":[]}',
  );
  assertStringIncludes(stdout, "- list_files: [");
  assertStringIncludes(stdout, '- current_time: {"iso":');
});

Deno.test("with no prompt, an interactive session reads messages until /exit", async () => {
  await using api = startFakeMessagesApi([{ text: "First answer." }, { text: "Second answer." }, {
    text: "Never.",
  }]);
  const { code, stdout } = await cli([], {
    env: withApi(api.url),
    stdin: "hello\n\nagain\n/exit\nignored\n",
  });
  assertEquals(code, 0);
  assertEquals(stdout, "First answer.\nSecond answer.\n");
  assertEquals(api.requests.length, 2);
  assertEquals(api.requests[1].body.messages.length, 3);
});

Deno.test("a prompt's background task shows in the view, and its result reaches the model before the CLI exits", async () => {
  await using api = startFakeMessagesApi([
    { toolCalls: [{ id: "toolu_bg", name: "slow_report", input: { ms: 400, topic: "q3" } }] },
    { text: "Started the report." },
    { text: "The report says all good." },
  ]);
  const { code, stdout, stderr } = await cli(["--tools", fixtures, "Report on q3."], {
    env: withApi(api.url),
  });
  assertEquals(code, 0, stderr);
  assertEquals(stdout, "Started the report.\nThe report says all good.\n");
  assertMatch(stderr, /^↻ slow_report \{.*\} running \d+\.\d\d s: continues as task_[0-9a-f-]+$/m);
  assertMatch(stderr, /^✓ slow_report task task_[0-9a-f-]+ succeeded: Report on q3: all good\.$/m);
  assertMatch(stderr, /^The result of task_[0-9a-f-]+ goes to the model\.$/m);
  assertStringIncludes(
    JSON.stringify(api.requests[2].body.messages.at(-1)),
    "Report on q3: all good.",
  );
});

Deno.test("-h prints the usage; /help and /quit are the CLI's own, never sent to the model", async () => {
  const help = await cli(["-h"]);
  assertEquals(help.code, 0);
  assertStringIncludes(help.stdout, "Usage: deno task run");
  await using api = startFakeMessagesApi([{ text: "Hello back." }, { text: "Never." }]);
  const { code, stdout, stderr } = await cli([], {
    env: withApi(api.url),
    stdin: "/help\n/frob\nhello\n/quit\nignored\n",
  });
  assertEquals(code, 0, stderr);
  assertEquals(stdout, "Hello back.\n");
  assertStringIncludes(stderr, "Commands: /help");
  assertStringIncludes(stderr, "Unknown command /frob.");
  assertEquals(api.requests.length, 1);
  assertEquals(api.requests[0].body.messages, [{
    role: "user",
    content: [{ type: "text", text: "hello" }],
  }]);
});

Deno.test("ctx.handOff() in a prompt run is refused with a clear tool result, and the run ends", async () => {
  await using api = startFakeMessagesApi([
    { toolCalls: [{ name: "hand_off", input: { queueUrl: "http://127.0.0.1:9/", job: "j" } }] },
    { text: "Could not hand it off." },
  ]);
  const { code, stdout, stderr } = await cli(["--tools", fixtures, "Hand it off."], {
    env: withApi(api.url),
  });
  assertEquals(code, 0, stderr);
  assertEquals(stdout, "Could not hand it off.\n");
  const result = (api.requests[1].body.messages[2].content as { content: string }[])[0];
  assertEquals((result as { is_error?: boolean }).is_error, true);
  assertStringIncludes(result.content, "ctx.handOff() is not available here");
  assertStringIncludes(result.content, "deno task serve");
});

Deno.test("the first Ctrl-C cancels the running turn and journals it; Ctrl-C with no turn running quits", async () => {
  await using api = startFakeMessagesApi([
    { toolCalls: [{ name: "sleep", input: { ms: 60_000 } }] },
  ]);
  const path = `${await Deno.makeTempDir()}/journal.kv`;
  const env = { ...withApi(api.url), AGENT_DATA: path };
  const prompt = cliProcess(["--tools", fixtures, "Sleep."], env);
  await prompt.stderrUntil('▶ sleep {"ms":60000} started');
  prompt.child.kill("SIGINT");
  const { code } = await prompt.child.status;
  assertEquals(code, 130);
  assertStringIncludes(prompt.stderr(), "Cancelling the turn (Ctrl-C again to quit)");
  assertMatch(prompt.stderr(), /■ sleep \{"ms":60000\} cancelled/);
  {
    // Nothing is left for a later `deno task serve` to resume.
    using kv = await Deno.openKv(path);
    assertEquals(await Array.fromAsync(kv.list({ prefix: ["open"] })), []);
  }

  const idle = cliProcess([], env, true);
  await idle.stderrUntil("> ");
  idle.child.kill("SIGINT");
  assertEquals((await idle.child.status).code, 130);
});

/** The CLI in a process the test can signal, with its stderr read as it comes. */
function cliProcess(args: string[], env: Record<string, string>, keepStdinOpen = false) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", MAIN, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "", ...env },
    clearEnv: true,
    stdin: keepStdinOpen ? "piped" : "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const waiters: { needle: string; resolve: () => void }[] = [];
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      for (const waiter of waiters) if (text.includes(waiter.needle)) waiter.resolve();
    }
  })();
  return {
    child,
    stderr: () => text,
    stderrUntil(needle: string): Promise<void> {
      const { promise, resolve } = Promise.withResolvers<void>();
      waiters.push({ needle, resolve });
      if (text.includes(needle)) resolve();
      return promise;
    },
  };
}

Deno.test("where per-worker permissions are not confirmed (Deno Deploy), only the built-in tools that need no sandbox run, and the warning names the switches", async () => {
  const { code, stdout, stderr } = await cli(["--tools", fixtures, "What time is it?"], {
    env: { DENO_DEPLOYMENT_ID: "simulated" },
  });
  assertEquals(code, 0, stderr);
  assertStringIncludes(stderr, "Warning: only the built-in current_time and fetch_url are offered");
  assertStringIncludes(stderr, "AGENT_WORKER_PERMISSIONS=on");
  assertStringIncludes(stderr, "AGENT_UNSANDBOXED_TOOLS=1");
  assertStringIncludes(stdout, "- current_time: ");
  for (const unsafe of ["list_files", "run_javascript"]) {
    assertEquals(
      stdout.includes(unsafe),
      false,
      `${unsafe} needs the sandbox, so it is not offered`,
    );
  }
});
