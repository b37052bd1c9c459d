/**
 * Real MCP servers from npm, as the tests start them: the reference
 * servers `@modelcontextprotocol/server-everything` and `server-memory`,
 * run by Deno.
 *
 * @module
 */
import type { StdioServerSpec } from "../../src/mcp_servers.ts";
import { eventually } from "./server_process.ts";

const VERSION = "2026.8.31";

/** `deno run` of an npm package, outside this repository's config and lock file. */
function denoRun(flags: string[], pkg: string, args: string[] = []): StdioServerSpec {
  return {
    command: Deno.execPath(),
    args: ["run", ...flags, "--no-config", "--no-lock", `npm:${pkg}@${VERSION}`, ...args],
  };
}

/** The reference server with every MCP feature (`echo`, `get-sum`, `get-env`, `trigger-long-running-operation`…). */
export const EVERYTHING: StdioServerSpec = denoRun(
  ["--allow-all"],
  "@modelcontextprotocol/server-everything",
);

/** The knowledge-graph server, allowed to read and write only `folder` and to read one variable. */
export function memoryServer(folder: string): StdioServerSpec {
  return {
    ...denoRun(
      [`--allow-read=${folder}`, `--allow-write=${folder}`, "--allow-env=MEMORY_FILE_PATH"],
      "@modelcontextprotocol/server-memory",
    ),
    env: { MEMORY_FILE_PATH: `${folder}/memory.jsonl` },
  };
}

/** The pids of this process's children whose command line contains `text`. */
export function childPids(text: string): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const command = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (parent === Deno.pid && command.includes(text)) pids.push(Number(entry.name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The everything server on Streamable HTTP at a loopback port; its `url` ends in `/mcp`. */
export async function startEverythingOverHttp(): Promise<{ url: string } & AsyncDisposable> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const { command, args } = denoRun(
    ["--allow-all"],
    "@modelcontextprotocol/server-everything",
    ["streamableHttp"],
  );
  const child = new Deno.Command(command, {
    args,
    env: { PORT: String(port) },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}/mcp`;
  await eventually(async () => {
    const answered = await fetch(url, { method: "DELETE" }).catch(() => undefined);
    await answered?.body?.cancel();
    return answered;
  }, 60_000);
  return {
    url,
    async [Symbol.asyncDispose]() {
      child.kill("SIGKILL");
      await child.status;
    },
  };
}
