/**
 * The single binary: what it embeds, its subcommands, and the binary itself
 * wherever `deno compile` can get its runtime (not on machines without
 * access to dl.deno.land, where the task must say how to get it).
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { join, relative } from "node:path";
import { BINARY_ENTRY } from "../src/cli/compile.ts";

const REPOSITORY = new URL("..", import.meta.url).pathname;

async function command(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPOSITORY,
    env: { AGENT_DATA: ":memory:", ANTHROPIC_API_KEY: "", NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

/** Files of this repository that the code loads by URL at run time (workers, the tool host, tools). */
async function loadedAtRunTime(): Promise<string[]> {
  const found = new Set<string>();
  for (const dir of ["src", "actors"]) {
    for await (const file of walk(join(REPOSITORY, dir))) {
      if (file.endsWith("_test.ts")) continue;
      const source = await Deno.readTextFile(file);
      for (
        const [, path] of source.matchAll(/new URL\("(\.\.?\/[^"]+\.ts)", import\.meta\.url\)/g)
      ) {
        found.add(relative(REPOSITORY, join(file, "..", path)));
      }
    }
  }
  for await (const file of walk(join(REPOSITORY, "tools"))) {
    if (!file.endsWith("_test.ts")) found.add(relative(REPOSITORY, file));
  }
  // The web page's files, served as they are.
  for await (const entry of Deno.readDir(join(REPOSITORY, "src/http/page"))) {
    found.add(`src/http/page/${entry.name}`);
  }
  return [...found].sort();
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

Deno.test("every module that workers, tool hosts and the tool catalog load at run time is embedded in the binary", async () => {
  const config = JSON.parse(await Deno.readTextFile(join(REPOSITORY, "deno.json")));
  const include: string[] = config.compile.include;
  const { stdout } = await command(["info", "--json", BINARY_ENTRY.pathname]);
  const graph = new Set(
    JSON.parse(stdout).modules
      .map((module: { specifier: string }) => module.specifier)
      .filter((specifier: string) => specifier.startsWith("file:"))
      .map((specifier: string) => relative(REPOSITORY, new URL(specifier).pathname)),
  );
  const loaded = await loadedAtRunTime();
  assert(loaded.includes("actors/tool_worker/worker_main.ts"), "the scan finds the worker entry");
  assert(loaded.includes("tools/run_javascript.ts"), "the scan finds the built-in tools");
  assert(loaded.includes("src/http/page/app.js"), "the scan finds the web page");
  const missing = loaded.filter((path) =>
    !graph.has(path) &&
    !include.some((entry) => entry.endsWith("/") ? path.startsWith(entry) : path === entry)
  );
  // The compile task's own entry is what is compiled, not something it loads.
  assertEquals(missing.filter((path) => path !== "src/cli/binary.ts"), []);
});

Deno.test("the binary's entry runs `run` and `serve` as deno task does, and refuses anything else", async () => {
  const entry = BINARY_ENTRY.pathname;
  const run = await command(["run", "-A", entry, "run", "--help"]);
  assertEquals(run.code, 0);
  assertStringIncludes(run.stdout, "Usage: deno task run");
  const serve = await command(["run", "-A", entry, "serve", "--help"]);
  assertEquals(serve.code, 0);
  assertStringIncludes(serve.stdout, "deno task serve");
  const unknown = await command(["run", "-A", entry, "frobnicate"]);
  assertEquals(unknown.code, 2);
  assertStringIncludes(unknown.stderr, 'error: unknown subcommand "frobnicate".');
  assertStringIncludes(unknown.stderr, "agent-runtime serve [flags]");
  const prompt = await command(["run", "-A", entry, "run", "What time is it?"]);
  assertEquals(prompt.code, 0, prompt.stderr);
  assertStringIncludes(prompt.stdout, "current_time");
});

Deno.test("deno task compile builds a binary that runs a conversation, or says in one line how to get its runtime", async () => {
  const output = join(await Deno.makeTempDir(), "agent-runtime");
  const built = await command(["task", "compile", "--output", output]);
  if (built.code !== 0) {
    const lines = built.stderr.trim().split("\n").filter((line) =>
      !line.startsWith("Task compile")
    );
    assertEquals(lines.length, 1, built.stderr);
    assertStringIncludes(lines[0], "deno compile needs the denort runtime");
    assertStringIncludes(lines[0], "DENORT_BIN=/path/to/denort deno task compile");
    return;
  }
  const { code, stdout, stderr } = await new Deno.Command(output, {
    args: ["run", "What time is it?"],
    env: { AGENT_DATA: ":memory:", ANTHROPIC_API_KEY: "" },
  }).output();
  assertEquals(code, 0, new TextDecoder().decode(stderr));
  assertStringIncludes(new TextDecoder().decode(stdout), "current_time");
});
