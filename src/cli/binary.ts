/**
 * The entry of the single binary that `deno task compile` builds:
 * `agent-runtime run …` is `deno task run …`, `agent-runtime serve …` is
 * `deno task serve …`, with the same flags and environment. Its tool hosts
 * are the binary itself, started as `agent-runtime tool-host SOCKET`.
 *
 * @module
 */
import { main } from "../../main.ts";
import { serveCommand } from "../http/serve.ts";

/** The binary's usage text. */
export const BINARY_USAGE =
  `Usage: agent-runtime run [flags] ["prompt"]   talk to the model, as deno task run
       agent-runtime serve [flags]              serve the HTTP API, as deno task serve
Add --help to a subcommand for its flags.`;

/**
 * Runs a subcommand and resolves with the exit status (2 for an unknown one).
 *
 * @example
 * ```ts ignore
 * Deno.exit(await runBinary(["run", "What time is it?"]));
 * ```
 */
export async function runBinary(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case "run":
      return await main(rest);
    case "serve":
      return await serveCommand(rest);
    case "tool-host": {
      const { runToolHost } = await import("../../actors/tool_host/host_main.ts");
      return await runToolHost(rest[0]);
    }
    case "--help":
    case "-h":
      console.log(BINARY_USAGE);
      return 0;
    default:
      console.error(
        command === undefined
          ? BINARY_USAGE
          : `error: unknown subcommand "${command}".\n${BINARY_USAGE}`,
      );
      return 2;
  }
}

// Deno.exit: a tool stuck in a CPU loop must not keep the process alive.
if (import.meta.main) Deno.exit(await runBinary(Deno.args));
