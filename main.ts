/**
 * The command line: `deno task run ["prompt"]`.
 *
 * @module
 */
import { TextLineStream } from "@std/streams/text-line-stream";
import type {
  ConversationSupervisor,
  TurnResult,
} from "./actors/supervisor/conversation_supervisor.ts";
import { parseCliArgs, USAGE } from "./src/cli/args.ts";
import { TerminalView } from "./src/cli/terminal_view.ts";
import { ConfigError } from "./src/config_error.ts";
import { createRuntime } from "./src/runtime.ts";

/**
 * Runs the CLI and resolves with its exit status: 0 done, 1 the turn failed
 * (e.g. a final API error), 2 bad flags or tools.
 *
 * @example
 * ```ts ignore
 * Deno.exit(await main(["What time is it in Tokyo?"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  try {
    const options = parseCliArgs(args);
    if (options.help) {
      console.log(USAGE);
      return 0;
    }
    const { system } = await createRuntime(options);
    const conversation = system.createConversation({ system: options.system });
    const view = new TerminalView();
    conversation.subscribe(
      options.json ? (event) => console.log(JSON.stringify(event)) : (event) => view.render(event),
    );
    if (options.prompt) {
      return exitStatus(await conversation.send({ type: "user_message", text: options.prompt }));
    }
    return await interactive(conversation);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }
}

async function interactive(conversation: ConversationSupervisor): Promise<number> {
  console.error("Interactive session: type a message, /exit to leave.");
  const lines: ReadableStream<string> = Deno.stdin.readable.pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream());
  Deno.stderr.writeSync(new TextEncoder().encode("> "));
  for await (const line of lines) {
    const text = line.trim();
    if (text === "/exit") break;
    if (text) await conversation.send({ type: "user_message", text });
    Deno.stderr.writeSync(new TextEncoder().encode("> "));
  }
  return 0;
}

function exitStatus(result: TurnResult): number {
  return result.status === "completed" ? 0 : 1;
}

// Deno.exit, not a return: a terminated tool stuck in a CPU loop keeps its
// thread alive, and the process must still end with the conversation.
if (import.meta.main) Deno.exit(await main(Deno.args));
