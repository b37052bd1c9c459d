import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { ConfigError } from "../src/config_error.ts";
import { BUILTIN_TOOLS_DIR, ToolCatalog } from "../src/tool_catalog.ts";
import { testCatalog } from "./support/test_system.ts";
import { HostExecutor } from "../actors/tool_host/host_executor.ts";

Deno.test("the built-in tools load, each with least privilege", async () => {
  const catalog = await ToolCatalog.load([BUILTIN_TOOLS_DIR]);
  assertEquals(catalog.names, [
    "current_time",
    "fetch_url",
    "list_files",
    "read_file",
    "run_javascript",
  ]);
  assertEquals(catalog.get("current_time")!.permissions, {});
  assertEquals(catalog.get("run_javascript")!.permissions, {});
  assertEquals(catalog.get("fetch_url")!.permissions, { net: true, env: ["AGENT_FETCH_ALLOW"] });
  assertEquals(catalog.get("read_file")!.permissions, { read: ["."] });
});

Deno.test("a zod input is offered to the model as JSON Schema", async () => {
  const shout = (await testCatalog()).forModel(["shout"])[0];
  assertEquals(shout.name, "shout");
  assertEquals(shout.input_schema.type, "object");
  assertEquals(shout.input_schema.required, ["text"]);
  assertEquals(
    (shout.input_schema.properties as Record<string, { type: string }>).text.type,
    "string",
  );
});

Deno.test("a module with no imports is a valid tool", async () => {
  const sleep = (await testCatalog()).get("sleep")!;
  assertEquals(sleep.permissions, {});
  assertStringIncludes(sleep.description, "Sleeps");
});

Deno.test("input is checked against the JSON Schema, naming what is wrong", async () => {
  const catalog = await testCatalog();
  assertEquals(catalog.checkInput("sleep", { ms: 5 }), undefined);
  assertEquals(
    catalog.checkInput("sleep", {}),
    "Invalid input: input must have required property 'ms'",
  );
  assertEquals(
    catalog.checkInput("current_time", { zone: "UTC" }),
    'Invalid input: input must NOT have additional properties ("zone")',
  );
});

Deno.test("invalid tool modules are refused with one line per file saying what to fix", async () => {
  // Described in tool hosts, as `deno task run` and `serve` do: a module that fails to load is
  // printed by Deno itself on its process's stderr, here the host's, which the runtime keeps.
  await using hosts = new HostExecutor();
  const error: ConfigError = await assertRejects(
    () => ToolCatalog.load([new URL("./fixtures/invalid_tools/", import.meta.url)], hosts),
    ConfigError,
  );
  const lines = error.message.split("\n").slice(1).map((line) => line.trim());
  const about = (file: string) =>
    lines.find((line) => line.includes(`/${file}:`)) ?? `(no line for ${file})`;
  assertStringIncludes(about("bad_name.ts"), "`name` must match ^[a-zA-Z0-9_-]{1,64}$");
  assertStringIncludes(
    about("no_schema.ts"),
    "give `inputSchema` (a JSON Schema object) or `input` (a zod 4 schema)",
  );
  assertStringIncludes(about("no_default.ts"), "the module has no default export");
  assertStringIncludes(about("throws_on_load.ts"), "cannot start: misconfigured");
  assertStringIncludes(
    about("bad_permissions.ts"),
    "`permissions` may only name read, write, net, env, run, sys, ffi, import",
  );
  assertStringIncludes(about("copy_b.ts"), 'another tool is already named "same_name"');
  assertStringIncludes(about("no_run.ts"), "`run` must be a function: `run(input, ctx) { … }`");
  assert(!error.message.includes("_helper.ts"), "_-prefixed helpers are not tools");
  assertEquals(lines.length, 7);
});

Deno.test("a missing tools folder is a configuration error", async () => {
  await assertRejects(
    () => ToolCatalog.load(["./no/such/folder"]),
    ConfigError,
    "Cannot read the tool module or folder",
  );
});
