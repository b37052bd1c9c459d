/**
 * MCP tool servers as a user names them: a command to start (stdio) or an
 * address to reach (Streamable HTTP), in the shape Claude Desktop and most
 * MCP clients use for `mcpServers`.
 *
 * @module
 */
import { ConfigError } from "./config_error.ts";

/**
 * Which of a server's tools are offered, and which wait for a person: the
 * operator's say over a server they did not write.
 */
export interface McpToolRules {
  /** Only these of its tools (named as the server names them) are offered; all when absent. */
  tools?: string[];
  /**
   * Calls that wait for a person's approval: tool names (as the server
   * names them), `"destructive"` for every tool the server does not mark
   * read-only or non-destructive (MCP's `destructiveHint` defaults to true),
   * or `"all"`.
   */
  approve?: string[];
}

/** A server started as a subprocess that speaks MCP on its stdin and stdout. */
export interface StdioServerSpec extends McpToolRules {
  command: string;
  args?: string[];
  /**
   * Environment variables for the server, on top of the few it always gets
   * (`PATH`, `HOME`, and what Deno and TLS need to fetch packages); nothing
   * else of this process's environment reaches it.
   */
  env?: Record<string, string>;
}

/** A server reached over MCP's Streamable HTTP transport. */
export interface HttpServerSpec extends McpToolRules {
  url: string;
  /** Sent with every request, e.g. `{ Authorization: "Bearer …" }`. */
  headers?: Record<string, string>;
}

/** One MCP server. */
export type McpServerSpec = StdioServerSpec | HttpServerSpec;

/** MCP servers by name; a server's tools reach the model as `NAME__TOOL`. */
export type McpServers = Record<string, McpServerSpec>;

/** What separates a server's name from its tools' names. */
export const MCP_SEPARATOR = "__";

/**
 * Parses the value of one `--mcp` flag: `NAME=COMMAND ARGS…` or
 * `NAME=https://…`. Arguments are split at spaces; quote an argument that
 * contains one ('…' or "…"). Throws a {@linkcode ConfigError} that says
 * what to fix.
 *
 * @example
 * ```ts
 * import { parseMcpFlag } from "./mcp_servers.ts";
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseMcpFlag("memory=deno run --allow-env 'npm:@modelcontextprotocol/server-memory'"), [
 *   "memory",
 *   { command: "deno", args: ["run", "--allow-env", "npm:@modelcontextprotocol/server-memory"] },
 * ]);
 * assertEquals(parseMcpFlag("docs=https://example.com/mcp"), ["docs", { url: "https://example.com/mcp" }]);
 * ```
 */
export function parseMcpFlag(value: string): [string, McpServerSpec] {
  const at = value.indexOf("=");
  const name = value.slice(0, Math.max(at, 0));
  const rest = value.slice(at + 1).trim();
  if (at < 1 || !rest) {
    throw new ConfigError(
      `--mcp takes NAME=COMMAND ARGS… or NAME=https://…, got "${value}".`,
    );
  }
  checkServerName(name);
  if (/^https?:\/\//i.test(rest)) return [name, { url: rest }];
  const [command, ...args] = splitWords(rest, value);
  return [name, { command, args }];
}

/**
 * Checks every server's name and spec; throws a {@linkcode ConfigError}
 * naming the first problem.
 *
 * @example
 * ```ts
 * import { checkMcpServers } from "./mcp_servers.ts";
 * import { assertThrows } from "@std/assert";
 * checkMcpServers({ everything: { command: "deno", args: ["run", "npm:@modelcontextprotocol/server-everything"] } });
 * assertThrows(() => checkMcpServers({ "bad name": { url: "https://example.com/mcp" } }));
 * ```
 */
export function checkMcpServers(servers: McpServers): void {
  for (const [name, spec] of Object.entries(servers)) {
    checkServerName(name);
    if ("url" in spec) {
      if (!URL.canParse(spec.url) || !/^https?:$/.test(new URL(spec.url).protocol)) {
        throw new ConfigError(`MCP server ${name}: "${spec.url}" is not an http(s) URL.`);
      }
    } else if (typeof spec.command !== "string" || !spec.command) {
      throw new ConfigError(`MCP server ${name}: give a \`command\` to start, or a \`url\`.`);
    }
    for (const rule of ["tools", "approve"] as const) {
      const names = spec[rule];
      if (
        names !== undefined && !(Array.isArray(names) && names.every((n) => typeof n === "string"))
      ) {
        throw new ConfigError(`MCP server ${name}: \`${rule}\` must be a list of tool names.`);
      }
    }
  }
}

/**
 * Adds `--mcp-tools NAME=a,b` or `--mcp-approve NAME=a,destructive` to the
 * server NAME of `servers`; a {@linkcode ConfigError} for a server no
 * `--mcp` names, or a flag without names.
 *
 * @example
 * ```ts
 * import { addMcpRule } from "./mcp_servers.ts";
 * import { assertEquals } from "@std/assert";
 * const servers = { files: { command: "files-mcp" } };
 * addMcpRule(servers, "approve", "files=write_file,destructive");
 * assertEquals(servers.files, { command: "files-mcp", approve: ["write_file", "destructive"] });
 * ```
 */
export function addMcpRule(servers: McpServers, rule: keyof McpToolRules, value: string): void {
  const flag = `--mcp-${rule === "tools" ? "tools" : "approve"}`;
  const at = value.indexOf("=");
  const [name, list] = [value.slice(0, Math.max(at, 0)), value.slice(at + 1)];
  const names = list.split(",").map((word) => word.trim()).filter(Boolean);
  if (at < 1 || names.length === 0) {
    throw new ConfigError(`${flag} takes SERVER=TOOL,TOOL…, got "${value}".`);
  }
  const spec = servers[name];
  if (!spec) throw new ConfigError(`${flag} names ${name}, which no --mcp flag starts.`);
  spec[rule] = [...(spec[rule] ?? []), ...names];
}

function checkServerName(name: string): void {
  if (!/^[a-zA-Z0-9](-?[a-zA-Z0-9])*$/.test(name) || name.length > 32) {
    throw new ConfigError(
      `"${name}" cannot name an MCP server: use up to 32 letters, digits and single dashes (it prefixes the server's tool names).`,
    );
  }
}

/** Splits at spaces, keeping quoted parts ('…' or "…") whole. */
function splitWords(text: string, flag: string): string[] {
  const words: string[] = [];
  for (const match of text.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) {
    const word = match[1] ?? match[2] ?? match[3];
    if (/^["']/.test(word) && match[3]) {
      throw new ConfigError(`--mcp "${flag}": a quote is not closed.`);
    }
    words.push(word);
  }
  return words;
}
