/**
 * The command line: `deno task run ["prompt"]`.
 *
 * @module
 */
import { attachmentOf, type UserBlock } from "./src/user_content.ts";
import { TextLineStream } from "@std/streams/text-line-stream";
import type { ConversationSupervisor } from "./actors/supervisor/conversation_supervisor.ts";
import { parseCliArgs, USAGE } from "./src/cli/args.ts";
import { CtrlC } from "./src/cli/ctrl_c.ts";
import { TerminalView } from "./src/cli/terminal_view.ts";
import { ConfigError } from "./src/config_error.ts";
import type { ConversationEvent } from "./src/events.ts";
import { createRuntime } from "./src/runtime.ts";

/**
 * Runs the CLI and resolves with its exit status: 0 done, 1 the last turn
 * failed (e.g. a final API error), 2 bad flags, tools or journal, 130 the
 * user cancelled it with Ctrl-C.
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
    await using runtime = await createRuntime(options, { server: false });
    const conversation = await runtime.system.createConversation();
    const view = new TerminalView({ thinking: !options.hideThinking });
    let status = 0;
    conversation.subscribe((event) => {
      if (event.type === "turn_finished") status = 0;
      if (event.type === "turn_failed") status = event.error.type === "cancelled" ? 130 : 1;
      if (options.json) console.log(JSON.stringify(event));
      else view.render(event);
    });
    // With --json, stdout carries events only: questions and notices go to stderr as they are.
    const screen: Screen = options.json ? plainScreen : view;
    using _ = cancelOnCtrlC(conversation, screen);
    using _approvals = askForApprovals(conversation, screen);
    const attached = await Promise.all((options.attach ?? []).map(attachmentOf));
    if (options.prompt) {
      await conversation.send(withAttachments(options.prompt, attached));
      if (status !== 130) await tasksDone(conversation);
    } else await interactive(conversation, attached);
    return status;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }
}

/** Where the CLI's questions and notices go: the terminal view, or plain stderr. */
type Screen = Pick<TerminalView, "ask" | "answered" | "notice">;

const plainScreen: Screen = {
  ask: (question) => Deno.stderr.writeSync(new TextEncoder().encode(question)),
  answered: (echo) => Deno.stderr.writeSync(new TextEncoder().encode(echo)),
  notice: (text) => console.error(text),
};

/**
 * The first Ctrl-C cancels the running turn (its calls are stopped and
 * journaled, the history stays valid); a second one, or one while no turn
 * runs, ends the CLI.
 */
function cancelOnCtrlC(conversation: ConversationSupervisor, screen: Screen): Disposable {
  const ctrlC = new CtrlC();
  const onSignal = () => {
    const action = ctrlC.pressed({ turnRunning: conversation.busy });
    if (action === "same key press") return;
    if (action === "quit" || !conversation.cancel()) Deno.exit(130);
    screen.notice("Cancelling the turn (Ctrl-C again to quit)…");
  };
  const unsubscribe = conversation.subscribe((event) => {
    if (event.type === "turn_finished" || event.type === "turn_failed") ctrlC.turnEnded();
  });
  Deno.addSignalListener("SIGINT", onSignal);
  return {
    [Symbol.dispose]() {
      unsubscribe();
      Deno.removeSignalListener("SIGINT", onSignal);
    },
  };
}

const COMMANDS = `Commands: /help this list, /attach FILE adds an image, PDF or text file to the
next message, /exit or /quit leave. Ctrl-C cancels a running turn. Anything else is sent to the model.`;

/** A message of `text` with `attached` files, or the plain text when none. */
function withAttachments(text: string, attached: UserBlock[]): string | UserBlock[] {
  return attached.length === 0 ? text : [{ type: "text", text }, ...attached];
}

let stdinLines: ReadableStreamDefaultReader<string> | undefined;

/** The next line of stdin, or undefined at its end: messages and approvals read the same lines. */
async function readLine(): Promise<string | undefined> {
  if (!stdinLines) {
    const lines: ReadableStream<string> = Deno.stdin.readable
      .pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream());
    stdinLines = lines.getReader();
  }
  const { value, done } = await stdinLines.read();
  return done ? undefined : value;
}

/**
 * A call that needs approval is put to the person at stdin, one at a time,
 * with its whole input: y approves it.
 */
function askForApprovals(conversation: ConversationSupervisor, screen: Screen): Disposable {
  let asking = Promise.resolve();
  const ask = async (callId: string, name: string, input: unknown) => {
    const oneLine = JSON.stringify(input);
    const shown = oneLine.length <= 200 ? oneLine : `\n${JSON.stringify(input, null, 2)}\n`;
    screen.ask(`Run ${name} ${shown}? [y/N] `);
    const answer = await readLine();
    // A terminal echoed the answer and its Enter; piped, the line is ended here.
    screen.answered(Deno.stdin.isTerminal() ? "" : `${answer ?? "(no answer)"}\n`);
    const approved = /^y(es)?$/i.test(answer?.trim() ?? "");
    const reason = answer === undefined ? "no one answered" : "denied at the command line";
    await conversation.decide(callId, approved ? { approved } : { approved, reason });
  };
  const unsubscribe = conversation.subscribe((event) => {
    if (event.type !== "tool_call_awaiting_approval") return;
    const { callId, name, input } = event;
    asking = asking.then(() => ask(callId, name, input)).catch(() => {});
  });
  return { [Symbol.dispose]: unsubscribe };
}

async function interactive(
  conversation: ConversationSupervisor,
  attached: UserBlock[],
): Promise<void> {
  console.error("Interactive session: type a message, /help for commands, /exit to leave.");
  Deno.stderr.writeSync(new TextEncoder().encode("> "));
  for (let line = await readLine(); line !== undefined; line = await readLine()) {
    const text = line.trim();
    if (text === "/exit" || text === "/quit") break;
    const attach = text.match(/^\/attach\s+(.+)$/)?.[1];
    if (attach) {
      await attachmentOf(attach).then(
        (block) => attached.push(block) && console.error(`Attached ${attach} to the next message.`),
        (error) => console.error(`error: ${error.message}`),
      );
    } else if (text === "/help") console.error(COMMANDS);
    else if (/^\/\w+$/.test(text)) console.error(`Unknown command ${text}. ${COMMANDS}`);
    else if (text) await conversation.send(withAttachments(text, attached.splice(0)));
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
