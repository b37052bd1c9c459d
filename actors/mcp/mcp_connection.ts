/**
 * One MCP server, as its tools' calls see it: a client session that is
 * opened on first use, and opened again on the next call after the server
 * stopped.
 *
 * @module
 */
import { stripAnsiCode } from "@std/fmt/colors";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  type CallToolResult,
  ErrorCode,
  McpError,
  type Progress,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { errorMessage } from "../../src/_error_message.ts";
import { LineBuffer, MessageTooLarge } from "./_line_buffer.ts";
import type { McpServerSpec } from "../../src/mcp_servers.ts";

/** How long a server has to start and list all its tools (`initialize`, then `tools/list`). */
export const MCP_START_TIMEOUT_MS = 30_000;

/**
 * The most tools one server may offer: every model request carries every
 * tool's definition (10,000 tools made each request 1.18 MB).
 */
export const MAX_TOOLS_PER_SERVER = 250;

/** The most pages of `tools/list` read from one server. */
const MAX_TOOL_PAGES = 100;

/** What a stdio server gets of this process's environment: no secrets, only what finding and fetching packages needs. */
const PASSED_ENV = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "SHELL",
  "TERM",
  "TMPDIR",
  "DENO_DIR",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "NODE_EXTRA_CA_CERTS",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
];

/** How much of a stdio server's stderr is kept, to say why it stopped. */
const STDERR_TAIL = 1000;

/** The server is not there to answer: it did not start, or stopped during the call. */
export class McpServerUnavailable extends Error {
  override name = "McpServerUnavailable";
}

/**
 * A session with one MCP server, named `name` in messages.
 *
 * @example
 * ```ts ignore
 * await using server = new McpConnection("everything", { command: "deno", args: ["run", "-A", "npm:@modelcontextprotocol/server-everything"] });
 * const tools = await server.listTools();
 * const result = await server.callTool("echo", { message: "hi" }, { timeoutMs: 5_000 });
 * ```
 */
export class McpConnection implements AsyncDisposable {
  #session: Promise<Client> | undefined;
  /** The client of the session that is open now. */
  #live: Client | undefined;
  #stderr = "";
  /** Resolves when the stdio server's stderr has ended (at once for a server over HTTP). */
  #stderrEnded: Promise<void> = Promise.resolve();
  /** Why the session ended, when the server sent more than a message may hold. */
  #tooLarge: string | undefined;
  #closed = false;

  constructor(readonly name: string, readonly spec: McpServerSpec) {}

  /**
   * The server's tools, read within {@linkcode MCP_START_TIMEOUT_MS} in all,
   * at most {@linkcode MAX_TOOLS_PER_SERVER} of them in at most 100 pages;
   * rejects with a message that says what went wrong.
   */
  async listTools(): Promise<Tool[]> {
    const signal = AbortSignal.timeout(MCP_START_TIMEOUT_MS);
    const client = await this.#client(signal);
    const tools: Tool[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages === 0 || cursor; pages++) {
      if (pages === MAX_TOOL_PAGES) {
        throw new McpServerUnavailable(
          `${this.#describe()} was still listing tools after ${MAX_TOOL_PAGES} pages (${tools.length} tools); a server may offer at most ${MAX_TOOLS_PER_SERVER}`,
        );
      }
      const page = await this.#listPage(client, cursor, signal);
      tools.push(...page.tools);
      if (tools.length > MAX_TOOLS_PER_SERVER) {
        throw new McpServerUnavailable(
          `${this.#describe()} offers more than ${MAX_TOOLS_PER_SERVER} tools, the most one server may offer (every model request carries every tool's definition): offer fewer, or split them over several servers`,
        );
      }
      cursor = page.nextCursor;
    }
    return tools;
  }

  async #listPage(client: Client, cursor: string | undefined, signal: AbortSignal) {
    try {
      return await client.listTools({ cursor }, { signal, timeout: MCP_START_TIMEOUT_MS });
    } catch (error) {
      if (!signal.aborted) throw error;
      throw new McpServerUnavailable(
        `${this.#describe()} did not list its tools within ${MCP_START_TIMEOUT_MS} ms`,
      );
    }
  }

  /**
   * Calls a tool. Rejects with {@linkcode McpServerUnavailable} when the
   * server does not start, or its session ends during the call (the next
   * call starts a new one), with
   * the signal's reason when it aborts (the server is told to cancel), and
   * with the server's error otherwise.
   */
  async callTool(
    tool: string,
    input: unknown,
    options: { timeoutMs: number; signal?: AbortSignal; onProgress?: (text: string) => void },
  ): Promise<CallToolResult> {
    const client = await this.#client();
    const { onProgress } = options;
    try {
      return await client.callTool(
        { name: tool, arguments: input as Record<string, unknown> },
        undefined,
        {
          timeout: options.timeoutMs,
          signal: options.signal,
          onprogress: onProgress &&
            ((progress: Progress) => onProgress(describeProgress(progress))),
        },
      ) as CallToolResult;
    } catch (error) {
      if (options.signal?.aborted) throw error;
      if (this.#live !== client) throw new McpServerUnavailable(this.#whyStopped());
      // Not an answer of the server's: its address did not answer, so the next call starts afresh.
      if (!(error instanceof McpError)) this.#forget(client);
      throw error;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    const session = this.#session;
    this.#session = undefined;
    await session?.then((client) => client.close()).catch(() => {});
  }

  /** The open session, or a new one if there is none (never started, or the server stopped). */
  #client(signal?: AbortSignal): Promise<Client> {
    if (this.#closed) return Promise.reject(new Error(`the MCP server ${this.name} is closed`));
    this.#session ??= this.#open(signal).catch(async (error) => {
      this.#session = undefined;
      await this.#stderrRead();
      const failed = "url" in this.spec ? "did not answer" : "did not start";
      throw new McpServerUnavailable(`${this.#describe()} ${failed}: ${this.#reason(error)}`);
    });
    return this.#session;
  }

  async #open(signal?: AbortSignal): Promise<Client> {
    this.#stderr = "";
    this.#tooLarge = undefined;
    const client = new Client({ name: "agent-runtime", version: "0.1.0" });
    client.onclose = () => this.#forget(client);
    client.onerror = (error: Error) => {
      if (error instanceof MessageTooLarge) this.#tooLarge = error.message;
    };
    await client.connect(this.#transport(), { timeout: MCP_START_TIMEOUT_MS, signal });
    this.#live = client;
    return client;
  }

  /** The session's client ends: the next call opens a new one. */
  #forget(client: Client): void {
    if (this.#live !== client) return;
    this.#live = undefined;
    this.#session = undefined;
    client.close().catch(() => {});
  }

  #transport(): Transport {
    if ("url" in this.spec) {
      return new StreamableHTTPClientTransport(new URL(this.spec.url), {
        requestInit: { headers: this.spec.headers },
      });
    }
    const env: Record<string, string> = {};
    for (const name of PASSED_ENV) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    const transport = new StdioClientTransport({
      command: this.spec.command,
      args: this.spec.args ?? [],
      env: { ...env, ...this.spec.env },
      stderr: "pipe",
    });
    // The SDK's own buffer is quadratic in a message's size (see _line_buffer.ts).
    (transport as unknown as { _readBuffer: LineBuffer })._readBuffer = new LineBuffer();
    const decoder = new TextDecoder();
    const ended = Promise.withResolvers<void>();
    transport.stderr?.on("end", () => ended.resolve());
    transport.stderr?.on("close", () => ended.resolve());
    this.#stderrEnded = ended.promise;
    transport.stderr?.on("data", (chunk: Uint8Array) => {
      this.#stderr = (this.#stderr + decoder.decode(chunk, { stream: true })).slice(-STDERR_TAIL);
    });
    return transport;
  }

  /**
   * Resolves once what the server wrote to stderr has been read (its
   * process ended), or after a second: a server that died says why there.
   */
  async #stderrRead(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => timer = setTimeout(resolve, 1_000));
    await Promise.race([this.#stderrEnded, waited]);
    clearTimeout(timer);
  }

  #describe(): string {
    return "url" in this.spec
      ? `The MCP server ${this.name} at ${this.spec.url}`
      : `The MCP server ${this.name} (${[this.spec.command, ...this.spec.args ?? []].join(" ")})`;
  }

  #reason(error: unknown): string {
    const said = this.#errorLines();
    // What it said is the cause; the guess at a cause is only for a server that said nothing.
    if (said && closedEarly(error)) return `it ended before answering MCP's initialize: ${said}`;
    return failureOf(error) + (said ? `; it said: ${said}` : "");
  }

  /**
   * What the server said of its failure: its error lines (colour codes and
   * stack frames left out), else its last lines; at most three.
   */
  #errorLines(): string {
    const plain: string = stripAnsiCode(this.#stderr);
    const lines = plain.split("\n")
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith("at "));
    const errors = lines.filter((line) => /error|exception|uncaught|notcapable|denied/i.test(line));
    return (errors.length > 0 ? errors : lines).slice(-3).join(" | ");
  }

  #whyStopped(): string {
    const said = this.#tooLarge ?? this.#lastLines(1);
    return `${this.#describe()} stopped during the call${
      said ? ` (${this.#tooLarge ? "" : "it said: "}${said})` : ""
    }; it will be started again on the next call.`;
  }

  /** The last `count` lines the server wrote to stderr, joined with " | "; "" if none. */
  #lastLines(count: number): string {
    const text = this.#stderr.trim();
    return text ? text.split("\n").slice(-count).join(" | ") : "";
  }
}

function describeProgress({ progress, total, message }: Progress): string {
  return message ?? (total ? `${progress}/${total}` : String(progress));
}

/** The server's process ended (or closed its output) before the session began. */
function closedEarly(error: unknown): boolean {
  return error instanceof McpError && (error as McpError).code === ErrorCode.ConnectionClosed;
}

/** What went wrong in opening a session, in words that say what to check. */
function failureOf(error: unknown): string {
  if (closedEarly(error)) {
    return "it ended before answering MCP's initialize (is it an MCP server that speaks on stdio?)";
  }
  if ((error as { code?: string }).code === "ENOENT") return "there is no such command";
  const cause = error instanceof Error && error.cause ? ` (${errorMessage(error.cause)})` : "";
  return errorMessage(error) + cause;
}
