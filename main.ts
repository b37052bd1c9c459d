/**
 * The command line: `deno task run ["prompt"]`.
 *
 * @module
 */
import { TextLineStream } from "@std/streams/text-line-stream";
import { AgentSystem } from "./actors/agent_system.ts";
import type {
  ConversationSupervisor,
  TurnResult,
} from "./actors/supervisor/conversation_supervisor.ts";
import { parseCliArgs, USAGE } from "./src/cli/args.ts";
import { TerminalView } from "./src/cli/terminal_view.ts";
import { ConfigError } from "./src/config_error.ts";
import { AnthropicModel, DEFAULT_MODEL } from "./src/model/anthropic_model.ts";
import type { Model } from "./src/model/model.ts";
import { OfflineModel } from "./src/model/offline_model.ts";
import { BUILTIN_TOOLS_DIR, ToolCatalog } from "./src/tool_catalog.ts";

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
    const model = modelFromEnvironment();
    const catalog = await ToolCatalog.load([BUILTIN_TOOLS_DIR, ...options.toolDirs]);
    const system = new AgentSystem({
      model,
      modelName: options.model ?? Deno.env.get("AGENT_MODEL") ?? DEFAULT_MODEL,
      catalog,
      defaultTimeoutMs: options.timeoutMs,
      maxSteps: options.maxSteps,
      maxTokens: 8192,
    });
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

/**
 * The API key is read once and then removed from the environment, so that
 * not even a tool granted `env: true` can read it.
 */
function modelFromEnvironment(): Model {
  const apiKey = Deno.env.get("ANTHROPIC_API_KEY");
  if (!apiKey) {
    console.error(
      "No ANTHROPIC_API_KEY: using the built-in offline demo model (it runs real tools, but is not Claude).",
    );
    return new OfflineModel();
  }
  Deno.env.delete("ANTHROPIC_API_KEY");
  return new AnthropicModel({ apiKey, baseURL: Deno.env.get("ANTHROPIC_BASE_URL") || undefined });
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
