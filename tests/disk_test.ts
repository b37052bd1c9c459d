import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import type Anthropic from "@anthropic-ai/sdk";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import {
  conversationWhen,
  eventually,
  request,
  startServerProcess,
} from "./support/server_process.ts";
import { lastUserText } from "./support/test_system.ts";

const SERVE = new URL("../src/http/serve.ts", import.meta.url).pathname;
const isRoot = Deno.uid() === 0;

/** A 4 MiB filesystem of its own, so the test can fill it; unmounted on dispose. */
async function smallDisk(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir();
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir],
  })
    .output();
  if (!mount.success) throw new Error(`mount failed: ${new TextDecoder().decode(mount.stderr)}`);
  return {
    dir,
    async [Symbol.asyncDispose]() {
      await new Deno.Command("umount", { args: ["-l", dir] }).output();
    },
  };
}

/** Writes a file until the disk is full; returns its path. */
async function fill(dir: string): Promise<string> {
  const path = `${dir}/filler`;
  using file = await Deno.open(path, { write: true, create: true });
  try {
    while (true) await file.write(new Uint8Array(16_384));
  } catch (error) {
    assertMatch(String(error), /No space left/);
  }
  return path;
}

Deno.test({
  name:
    "a disk that fills mid-turn: 503 with the reason, /healthz not ok, and the turn finishes by itself once there is room",
  ignore: !isRoot, // mounting a small filesystem needs root, as on the CI machines
  async fn() {
    await using api = startFakeMessagesApi((request) =>
      lastUserText(request).includes("tool_result")
        ? { text: "Done after all." }
        : { toolCalls: [{ name: "sleep", input: { ms: 3_000 } }] }
    );
    await using disk = await smallDisk();
    await using server = await startServerProcess({
      ANTHROPIC_API_KEY: "sk-ant-test",
      ANTHROPIC_BASE_URL: api.url,
      AGENT_DATA: `${disk.dir}/journal.kv`,
    });
    const id = (await request(`${server.url}/v1/conversations`, "POST", {})).body.id;
    const turn = request(`${server.url}/v1/conversations/${id}/messages`, "POST", {
      content: "Sleep, please.",
    });
    await conversationWhen(server.url, id, (body) => body.status.callsInFlight.length === 1);
    const filler = await fill(disk.dir);
    // The call's result cannot be recorded: the turn answers 503 and stays open.
    const cut = await turn;
    assertEquals([cut.status, cut.body.error.type], [503, "journal_unavailable"]);

    // A turn needs the journal for everything it does.
    const refused = await fetch(`${server.url}/v1/conversations`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ system: "x".repeat(100_000) }),
    });
    assertEquals(refused.status, 503);
    assertEquals(refused.headers.get("retry-after"), "5");
    const error = (await refused.json()).error;
    assertEquals(error.type, "journal_unavailable");
    assertStringIncludes(error.message, "the disk is full");
    const health = await fetch(`${server.url}/healthz`);
    assertEquals(health.status, 503);
    const body = await health.json();
    assertEquals([body.ok, body.journal.ok], [false, false]);
    assertStringIncludes(body.journal.reason, "the disk is full");

    await eventually(() => Promise.resolve(server.log().includes("Heartbeat failed") || undefined));

    await Deno.remove(filler);
    await eventually(async () =>
      (await fetch(`${server.url}/healthz`)).status === 200 || undefined
    );
    assertEquals((await request(`${server.url}/v1/conversations`, "POST", {})).status, 201);
    // The turn was cut short by the full disk, so the call is reported as interrupted.
    const done = await conversationWhen(
      server.url,
      id,
      (body) => JSON.stringify(body.history.at(-1)).includes("Done after all."),
    );
    const results = done.history[2].content as Anthropic.ToolResultBlockParam[];
    assertEquals(results.map((result) => result.is_error), [true]);
    assert(!server.log().includes("    at "), `no stack trace in the log:\n${server.log()}`);
    await eventually(() =>
      Promise.resolve(server.log().includes("Heartbeat recovered.") || undefined)
    );
    // Every heartbeat failed while the disk was full: the problem was logged once, not each second.
    assertEquals(server.log().split("Heartbeat failed").length - 1, 1, server.log());
  },
});

/** Runs `deno task serve` on a journal file and returns its exit code and stderr. */
async function serveOn(path: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", SERVE],
    env: { AGENT_DATA: path, PORT: "0" },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("a damaged journal file ends start-up with one line naming the file and the problem", async () => {
  const path = `${await Deno.makeTempDir()}/journal.kv`;
  await Deno.writeTextFile(path, "this is not a database ".repeat(500));
  const { code, stderr } = await serveOn(path);
  assertOneErrorLine(code, stderr, path, "damaged");
  assert(!stderr.includes("    at "), stderr);
});

Deno.test({
  name:
    "a journal on a read-only filesystem ends start-up with one line naming the file and the problem",
  ignore: !isRoot,
  async fn() {
    await using disk = await smallDisk();
    const path = `${disk.dir}/journal.kv`;
    const { code: created } = await serveOnce(path);
    assertEquals(created, 0);
    await new Deno.Command("mount", { args: ["-o", "remount,ro", disk.dir] }).output();
    const { code, stderr } = await serveOn(path);
    assertOneErrorLine(code, stderr, path, "cannot be opened for writing");
  },
});

/** Start-up ended with exit code 2 and one error line naming the file and the problem. */
function assertOneErrorLine(code: number, stderr: string, path: string, problem: string): void {
  assertEquals(code, 2);
  const lines = stderr.trim().split("\n").filter((line) => line.startsWith("error"));
  assertEquals(lines.length, 1, stderr);
  assertStringIncludes(lines[0], path);
  assertStringIncludes(lines[0], problem);
}

/** Creates the journal file, as a first start of the server would. */
async function serveOnce(path: string) {
  using kv = await Deno.openKv(path);
  await kv.set(["opened"], Date.now());
  return { code: 0 };
}
