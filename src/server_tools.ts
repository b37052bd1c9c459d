/**
 * Anthropic's server tools (web search, web fetch, code execution): tools
 * that run at Anthropic, not in a worker of ours. The operator declares
 * them; they are sent with every request beside the catalog's tools, and
 * the model's use of them comes back as blocks of its reply.
 *
 * @module
 */
import type Anthropic from "@anthropic-ai/sdk";
import { z } from "zod";
import { ConfigError } from "./config_error.ts";

/** A server tool, as the Messages API takes it. */
export type ServerTool =
  | Anthropic.WebSearchTool20250305
  | Anthropic.WebFetchTool20250910
  | Anthropic.CodeExecutionTool20250825;

/** The options web search and web fetch share: how often, and where. */
const WEB_OPTIONS = {
  max_uses: z.int().min(1).optional(),
  allowed_domains: z.array(z.string().min(1)).optional(),
  blocked_domains: z.array(z.string().min(1)).optional(),
};

/** The server tools an operator may declare, by name: their API type and the options each takes. */
const SERVER_TOOLS = {
  web_search: {
    type: "web_search_20250305",
    options: z.strictObject({
      ...WEB_OPTIONS,
      user_location: z.looseObject({ type: z.literal("approximate") }).optional(),
    }),
  },
  web_fetch: {
    type: "web_fetch_20250910",
    options: z.strictObject({
      ...WEB_OPTIONS,
      max_content_tokens: z.int().min(1).optional(),
      citations: z.strictObject({ enabled: z.boolean() }).optional(),
    }),
  },
  code_execution: { type: "code_execution_20250825", options: z.strictObject({}) },
} as const;

/** The names of the server tools that can be declared. */
export const SERVER_TOOL_NAMES = Object.keys(SERVER_TOOLS) as (keyof typeof SERVER_TOOLS)[];

/**
 * The server tool `name` with `options` (the API's own fields, such as
 * `max_uses` or `allowed_domains`); a {@linkcode ConfigError} saying what
 * is wrong otherwise.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { serverTool } from "./server_tools.ts";
 * assertEquals(serverTool("web_search", { max_uses: 3 }), { type: "web_search_20250305", name: "web_search", max_uses: 3 });
 * ```
 */
export function serverTool(name: string, options: unknown = {}): ServerTool {
  const known = SERVER_TOOLS[name as keyof typeof SERVER_TOOLS];
  if (!known) {
    throw new ConfigError(
      `Unknown server tool "${name}": the server tools are ${SERVER_TOOL_NAMES.join(", ")}.`,
    );
  }
  const checked = known.options.safeParse(options);
  if (!checked.success) {
    const problems = checked.error.issues.map((issue) =>
      `${issue.path.join(".") || "options"}: ${issue.message}`
    );
    throw new ConfigError(`The server tool ${name}'s options: ${problems.join("; ")}.`);
  }
  return { type: known.type, name, ...checked.data } as ServerTool;
}

/**
 * A `--server-tool` flag: `NAME`, or `NAME={...}` with its options as JSON.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseServerToolFlag } from "./server_tools.ts";
 * assertEquals(parseServerToolFlag('web_fetch={"max_uses":2}'), { type: "web_fetch_20250910", name: "web_fetch", max_uses: 2 });
 * ```
 */
export function parseServerToolFlag(flag: string): ServerTool {
  const at = flag.indexOf("=");
  if (at < 0) return serverTool(flag);
  const [name, json] = [flag.slice(0, at), flag.slice(at + 1)];
  let options: unknown;
  try {
    options = JSON.parse(json);
  } catch {
    throw new ConfigError(
      `--server-tool takes NAME or NAME={JSON options}, got "${flag}": its options are not JSON.`,
    );
  }
  return serverTool(name, options);
}
