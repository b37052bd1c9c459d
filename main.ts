/**
 * The command line: `deno task run ["prompt"]`.
 *
 * @module
 */
import { TextLineStream } from "@std/streams/text-line-stream";
import type { ConversationSupervisor } from "./actors/supervisor/conversation_supervisor.ts";
import { parseCliArgs, USAGE } from "./src/cli/args.ts";
import { TerminalView } from "./src/cli/terminal_view.ts";
import { ConfigError } from "./src/config_error.ts";
import type { ConversationEvent } from "./src/events.ts";
import { createRuntime } from "./src/runtime.ts";

/**
 * Runs the CLI and resolves with its exit status: 0 done, 1 the last turn
 * failed (e.g. a final API error), 2 bad flags, tools or journal.
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
    // The CLI drives its own conversation; a server takes up the ones a crash left.
    await using runtime = await createRuntime(options, { recoverAll: false });
    const conversation = await runtime.system.createConversation({ system: options.system });
    const view = new TerminalView();
    let failed = false;
    conversation.subscribe((event) => {
      if (event.type === "turn_finished" || event.type === "turn_failed") {
        failed = event.type === "turn_failed";
      }
      if (options.json) console.log(JSON.stringify(event));
      else view.render(event);
    });
    if (options.prompt) {
      await conversation.send({ type: "user_message", text: options.prompt });
      await tasksDone(conversation);
    } else await interactive(conversation);
    return failed ? 1 : 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }
}

async function interactive(conversation: ConversationSupervisor): Promise<void> {
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
  if (conversation.status.tasks.length > 0) {
    console.error("Waiting for background tasks to deliver their results (Ctrl-C to leave).");
    await tasksDone(conversation);
  }
}

/** Resolves once no background task runs and the turns their results started have ended. */
function tasksDone(conversation: ConversationSupervisor): Promise<void> {
  const idle = () => conversation.status.tasks.length === 0 && !conversation.busy;
  if (idle()) return Promise.resolve();
  const { promise, resolve } = Promise.withResolvers<void>();
  const unsubscribe = conversation.subscribe((event: ConversationEvent) => {
    if (event.type !== "turn_finished" && event.type !== "turn_failed") return;
    // The turn's own bookkeeping ends just after its last event.
    setTimeout(() => {
      if (!idle()) return;
      unsubscribe();
      resolve();
    });
  });
  return promise;
}

// Deno.exit, not a return: a terminated tool stuck in a CPU loop keeps its
// thread alive, and the process must still end with the conversation.
if (import.meta.main) Deno.exit(await main(Deno.args));
