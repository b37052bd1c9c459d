/**
 * The command line: flags, their checks, and the help text.
 *
 * @module
 */
import { MAX_OUTPUT_TOKENS } from "../model/reply.ts";
import { parseArgs } from "@std/cli/parse-args";
import { ConfigError } from "../config_error.ts";
import { addMcpRule, type McpServers, parseMcpFlag } from "../mcp_servers.ts";
import { parseServerToolFlag, type ServerTool } from "../server_tools.ts";
import { wholeNumber } from "../whole_number.ts";
import { type Effort, EFFORTS, parseThinking, type Thinking } from "../model/thinking.ts";

/** The parsed and checked command line. */
export interface CliOptions {
  /** The prompt; none means an interactive session. */
  prompt?: string;
  toolDirs: string[];
  /** From `--mcp NAME=COMMAND ARGS…` and `--mcp NAME=https://…`. */
  mcpServers: McpServers;
  model?: string;
  timeoutMs: number;
  turnLimitMs: number;
  maxSteps: number;
  /** `--max-tokens`: the room each model call starts with; else AGENT_MAX_TOKENS, else 8192. */
  maxTokens?: number;
  system?: string;
  /** `--thinking`: extended thinking, else AGENT_THINKING, else off. */
  thinking?: Thinking;
  /** `--effort`: each reply's effort, else AGENT_EFFORT, else the model's default. */
  effort?: Effort;
  /** `--server-tool NAME[={JSON options}]`: Anthropic's server tools to offer. */
  serverTools?: ServerTool[];
  /** `--attach FILE`: images, PDFs and text files sent with the prompt. */
  attach?: string[];
  /** `--hide-thinking`: the model's thinking is not shown. */
  hideThinking: boolean;
  json: boolean;
  help: boolean;
}

/** The flags `deno task run` and `deno task serve` share, for their help texts. */
export const RUNTIME_FLAGS =
  `  --tools DIR      load the tool modules in DIR too (repeatable; tools/ is always loaded)
  --mcp NAME=CMD   also offer the tools of an MCP server, as NAME__TOOL (repeatable):
                   NAME=COMMAND ARGS… starts it (stdio), NAME=https://… reaches it
  --mcp-tools NAME=T,T…    offer only these tools of the server NAME
  --mcp-approve NAME=T,T…  its calls of these tools wait for a person's approval; the word
                   destructive names every tool it does not mark read-only or harmless
  --model NAME     model name (default: $AGENT_MODEL, else claude-sonnet-5-5)
  --timeout MS     per-call time limit for tools that declare none (default 30000)
  --turn-limit MS  a call still running after MS continues as a background task (default 20000)
  --max-steps N    model calls per turn at most (default 20)
  --max-tokens N   max_tokens of each model call (default $AGENT_MAX_TOKENS, else 8192); a
                   reply cut inside a tool call is asked again with twice the room
  --thinking T     extended thinking: adaptive, off, or a budget in tokens (1024 up to below
                   --max-tokens) (default $AGENT_THINKING, else off)
  --server-tool S  offer one of Anthropic's server tools, which run at Anthropic (repeatable):
                   web_search, web_fetch or code_execution, optionally with the API's
                   options as JSON: 'web_search={"max_uses":5,"allowed_domains":["deno.com"]}'
  --effort E       effort of each reply: ${EFFORTS.join(", ")} (default $AGENT_EFFORT,
                   else the model's)`;

/** The environment both read, for their help texts. */
export const RUNTIME_ENV = `Environment: ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, AGENT_MODEL,
AGENT_DATA (the journal: a Deno KV file, default .agent/journal.kv; ":memory:" keeps nothing;
or a PostgreSQL database, postgres://user:password@host:port/db).
Tool calls: AGENT_TOOL_MEMORY_MB (256), AGENT_TOOL_RESULT_BYTES (1048576),
AGENT_TOOL_PROGRESS_PER_SECOND (10), AGENT_TOOL_PROGRESS_BYTES (2048), AGENT_MAX_WORKERS
(from memory), AGENT_MAX_QUEUED_CALLS (10 x the workers), AGENT_TOOL_ISOLATION (process|worker),
AGENT_APPROVAL_TIMEOUT_MS (a call awaiting approval is denied after it; default: never),
AGENT_HANDOFF_TIMEOUT_MS (a handed-off task with no result after it ends timed out; default: never).
Model calls: AGENT_MAX_TOKENS (8192), AGENT_MODEL_IDLE_TIMEOUT_MS (a reply silent this long is
asked for again; 60000), AGENT_MODEL_TIMEOUT_MS (one attempt at most; 600000),
AGENT_COMPACTION (auto|off: summarize a history that fills the window; auto),
AGENT_CONTEXT_EDITING (clear_tool_uses|off: the API clears old tool results; off),
AGENT_PROMPT_CACHE (5m|1h|off: prompt caching and its time to live; 5m),
AGENT_THINKING (adaptive|off|budget; off), AGENT_EFFORT (low…max; the model's),
AGENT_CONTEXT_WINDOW_TOKENS (the model's context window; 200000).`;

/** The usage text printed by `--help`. */
export const USAGE = `Usage: deno task run [flags] ["prompt"]

Talks to Claude; every tool call runs in its own Web Worker, all calls of a
turn at once. With no prompt, starts an interactive session (/exit to leave).
Without ANTHROPIC_API_KEY, a built-in offline model drives the tools.

Flags:
${RUNTIME_FLAGS}
  --system TEXT    system prompt
  --attach FILE    send an image (png, jpg, gif, webp), a PDF or a text file with the prompt
                   (repeatable); in a session, /attach FILE adds one to the next message
  --hide-thinking  do not show the model's thinking (shown dimmed by default)
  --json           one JSON event per line on stdout instead of text
  --help, -h       this text

Interactive commands: /help, /exit or /quit. Ctrl-C cancels a running turn;
a second Ctrl-C quits.

${RUNTIME_ENV}`;

const STRING_FLAGS = [
  "tools",
  "mcp",
  "mcp-tools",
  "mcp-approve",
  "model",
  "timeout",
  "turn-limit",
  "max-steps",
  "max-tokens",
  "thinking",
  "effort",
  "server-tool",
  "attach",
  "system",
];
const BOOLEAN_FLAGS = ["json", "help", "hide-thinking"];
const REPEATABLE = ["tools", "mcp", "mcp-tools", "mcp-approve", "server-tool", "attach"];

/**
 * Parses `args`; throws a {@linkcode ConfigError} that says what to fix.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseCliArgs } from "./args.ts";
 * const options = parseCliArgs(["--max-steps", "5", "What time is it?"]);
 * assertEquals([options.maxSteps, options.prompt], [5, "What time is it?"]);
 * ```
 */
export function parseCliArgs(args: string[]): CliOptions {
  const flags: Record<string, unknown> & { _: string[] } = parseArgs(args, {
    string: [...STRING_FLAGS, "_"],
    boolean: BOOLEAN_FLAGS,
    collect: REPEATABLE,
    alias: { h: "help" },
    unknown: (arg: string, key?: string) => {
      if (/^-\d/.test(arg)) {
        throw new ConfigError(
          `"${arg}" is not a flag; --timeout, --turn-limit, --max-steps and --max-tokens take positive whole numbers.`,
        );
      }
      if (key !== undefined) {
        throw new ConfigError(
          `Unknown flag ${arg.split("=")[0]}. Run with --help to see the flags.`,
        );
      }
      return true;
    },
  });
  for (const name of STRING_FLAGS) {
    const values = [flags[name] ?? []].flat() as string[];
    if (values.some((value) => value === "")) throw new ConfigError(`--${name} needs a value.`);
    if (!REPEATABLE.includes(name) && Array.isArray(flags[name])) {
      throw new ConfigError(`--${name} may be given only once.`);
    }
  }
  const prompt = flags._.join(" ").trim();
  return {
    prompt: prompt || undefined,
    toolDirs: flags.tools as string[],
    mcpServers: mcpServersOf(flags),
    model: flags.model as string | undefined,
    timeoutMs: wholeNumber("--timeout", flags.timeout, 30_000, 1, 3_600_000),
    turnLimitMs: wholeNumber("--turn-limit", flags["turn-limit"], 20_000, 1, 3_600_000),
    maxSteps: wholeNumber("--max-steps", flags["max-steps"], 20, 1, 1_000),
    maxTokens: flags["max-tokens"] === undefined
      ? undefined
      : wholeNumber("--max-tokens", flags["max-tokens"], 0, 1, MAX_OUTPUT_TOKENS),
    system: flags.system as string | undefined,
    thinking: flags.thinking === undefined
      ? undefined
      : thinkingFlag("--thinking", flags.thinking as string),
    effort: flags.effort === undefined ? undefined : effortFlag("--effort", flags.effort as string),
    serverTools: (flags["server-tool"] as string[]).map(parseServerToolFlag),
    attach: flags.attach as string[],
    hideThinking: flags["hide-thinking"] as boolean,
    json: flags.json as boolean,
    help: flags.help as boolean,
  };
}

function mcpServersOf(flags: Record<string, unknown>): McpServers {
  const servers: McpServers = {};
  for (const [name, spec] of (flags.mcp as string[]).map(parseMcpFlag)) {
    if (servers[name]) throw new ConfigError(`--mcp names the server ${name} twice.`);
    servers[name] = spec;
  }
  for (const value of flags["mcp-tools"] as string[]) addMcpRule(servers, "tools", value);
  for (const value of flags["mcp-approve"] as string[]) addMcpRule(servers, "approve", value);
  return servers;
}

/** `value` of the flag or variable `name` as extended thinking; a ConfigError if it is none. */
export function thinkingFlag(name: string, value: string): Thinking {
  const thinking = parseThinking(value);
  if (thinking === undefined) {
    throw new ConfigError(
      `${name} must be "adaptive", "off" or a budget in tokens (at least 1024), got "${value}".`,
    );
  }
  return thinking;
}

/** `value` of the flag or variable `name` as an effort; a ConfigError if it is none. */
export function effortFlag(name: string, value: string): Effort {
  if ((EFFORTS as string[]).includes(value)) return value as Effort;
  throw new ConfigError(`${name} must be one of ${EFFORTS.join(", ")}, got "${value}".`);
}
