/**
 * `deno task serve`: the HTTP API on `PORT` (default 8000). Also the Deno
 * Deploy entry point. Takes the same flags and environment as `deno task run`.
 *
 * @module
 */
import { parseCliArgs, RUNTIME_ENV, RUNTIME_FLAGS } from "../cli/args.ts";
import { ConfigError } from "../config_error.ts";
import { createRuntime } from "../runtime.ts";
import { createApp } from "./app.ts";
import { serveGuarded } from "./front_door.ts";
import { delay } from "@std/async/delay";
import type { AgentSystem } from "../../actors/agent_system.ts";
import { wholeNumber } from "../whole_number.ts";
import { isLoopbackName, parseAllowedHosts } from "./host_guard.ts";
import { A2A_WAIT_MS } from "./a2a.ts";

/**
 * Starts the server and resolves once it has stopped (SIGINT or SIGTERM).
 * Throws a ConfigError for bad flags or an unsafe listening address.
 *
 * @example
 * ```ts ignore
 * await serve(["--tools", "./my_tools"], Deno.env);
 * ```
 */
export async function serve(args: string[], env: Deno.Env = Deno.env): Promise<void> {
  const options = parseCliArgs(args);
  if (options.help) {
    console.log(SERVE_USAGE);
    return;
  }
  if (options.prompt) {
    throw new ConfigError(`deno task serve takes no prompt (got "${options.prompt}").`);
  }
  if (options.json) {
    throw new ConfigError(
      "--json is for deno task run; the server streams JSON events at /v1/conversations/:id/events.",
    );
  }
  const listen = listenOptions(env);
  const token = env.get("AGENT_API_TOKEN") || undefined;
  env.delete("AGENT_API_TOKEN"); // a secret, like the API key: no tool may read it
  if (!token && !isLoopbackName(listen.hostname)) {
    throw new ConfigError(
      `Refusing to listen on ${listen.hostname} without AGENT_API_TOKEN: set a token, or listen on loopback (HOST=127.0.0.1).`,
    );
  }
  await using runtime = await createRuntime(options, { server: true });
  const { system, platform } = runtime;
  console.error(`Journal: ${runtime.dataPath}`);
  const shutdown = new AbortController();
  let publicUrl = listen.publicUrl ?? "http://localhost";
  const app = createApp({
    system,
    platform,
    token,
    allowedHosts: listen.allowedHosts ?? (token ? "any" : []),
    a2aWaitMs: listen.a2aWaitMs,
    // Half of the connections at most: watchers never take every slot from requests.
    maxEventStreams: listen.maxEventStreams ?? Math.max(1, Math.floor(listen.maxConnections / 2)),
    publicUrl: () => publicUrl,
    maxBodyBytes: listen.maxBodyBytes,
    maxMessageBytes: listen.maxMessageBytes,
    shutdown: shutdown.signal,
  });
  const onListen = ({ hostname, port }: Deno.NetAddr) => {
    const url = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/`;
    publicUrl = listen.publicUrl ?? url;
    console.error(`Listening on ${url}`);
  };
  // Deno Deploy fronts connections itself; anywhere else the front door guards them, unless
  // the operator says a reverse proxy in front already does.
  const server = await listening(
    listen,
    async () =>
      platform.deploy || env.get("AGENT_FRONT_DOOR") === "off"
        ? Deno.serve({ hostname: listen.hostname, port: listen.port, onListen }, app.fetch)
        : await serveGuarded({ ...listen, maxHeadBytes: MAX_HEAD_BYTES, onListen }, app.fetch),
  );
  const signalled = Promise.withResolvers<void>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => signalled.resolve());
  }
  await Promise.race([signalled.promise, server.finished]);
  await drain(server, system, shutdown, listen.drainMs);
}

/**
 * Stops accepting, ends event streams with a final event, lets running
 * turns finish for up to `ms`, then lets their replies go out. Whatever is
 * still running is left to recovery by another process.
 */
async function drain(
  server: { shutdown(): Promise<void> },
  system: AgentSystem,
  shutdown: AbortController,
  ms: number,
): Promise<void> {
  console.error(`Shutting down: running turns get up to ${ms} ms to finish (AGENT_DRAIN_MS).`);
  shutdown.abort();
  const closed = server.shutdown();
  await system.drain(ms);
  // Replies of the turns that ended are written now; a turn still running has none to wait for.
  await Promise.race([closed, delay(REPLY_GRACE_MS)]);
}

/** How long finished turns' replies get to be written after the drain. */
const REPLY_GRACE_MS = 1_000;

const SERVE_USAGE = `Usage: deno task serve [flags]

Serves the HTTP API (/v1) for external programs to drive conversations and
watch them live. Every tool call runs in its own Web Worker.

Flags:
${RUNTIME_FLAGS}
  --system TEXT    system prompt of conversations created without one
  --help, -h       this text

${RUNTIME_ENV}
Server environment: PORT (default 8000), HOST (default 127.0.0.1; 0.0.0.0 needs a token),
AGENT_API_TOKEN (required as "Authorization: Bearer <token>" on /v1 when set),
AGENT_ALLOWED_HOSTS (names served besides localhost, 127.0.0.1 and ::1, comma-separated; with a
token and no list, any name), AGENT_PUBLIC_URL (where clients reach this server, for the A2A
agent card; default the address it listens on), AGENT_A2A_WAIT_MS (how long a blocking A2A
SendMessage waits for its task to end before it answers with the task still working; default 60000),
AGENT_MAX_BODY_BYTES (default 1048576), AGENT_MAX_CONNECTIONS (connections served at once; more
get 503; default from the open-file limit, at most 1000), AGENT_MAX_EVENT_STREAMS (event streams
open at once; more get 503 too_many_streams; default half of the connections), AGENT_REQUEST_TIMEOUT_MS (a connection
must send its whole request within it, else 408; default 10000), AGENT_FRONT_DOOR=off (serve with
Deno.serve alone, when a reverse proxy in front already limits connections), AGENT_NODE_TTL_MS (how soon another process may take
over the conversations of one that died; default 10000), AGENT_DRAIN_MS (on SIGTERM or
SIGINT, how long running turns get to finish before the server exits; default 10000).`;

function listenOptions(env: Deno.Env) {
  // Deno Deploy routes traffic to the app itself; it has no loopback to keep to.
  const deploy = Boolean(env.get("DENO_DEPLOYMENT_ID"));
  return {
    drainMs: wholeNumber("AGENT_DRAIN_MS", env.get("AGENT_DRAIN_MS"), 10_000, 0, 3_600_000),
    maxConnections: wholeNumber(
      "AGENT_MAX_CONNECTIONS",
      env.get("AGENT_MAX_CONNECTIONS"),
      defaultMaxConnections(),
      1,
      1_000_000,
    ),
    requestTimeoutMs: wholeNumber(
      "AGENT_REQUEST_TIMEOUT_MS",
      env.get("AGENT_REQUEST_TIMEOUT_MS"),
      10_000,
      100,
      3_600_000,
    ),
    hostname: env.get("HOST") ?? (deploy ? "0.0.0.0" : "127.0.0.1"),
    allowedHosts: parseAllowedHosts(env.get("AGENT_ALLOWED_HOSTS")),
    maxEventStreams: env.get("AGENT_MAX_EVENT_STREAMS") === undefined ? undefined : wholeNumber(
      "AGENT_MAX_EVENT_STREAMS",
      env.get("AGENT_MAX_EVENT_STREAMS"),
      0,
      1,
      1_000_000,
    ),
    a2aWaitMs: wholeNumber(
      "AGENT_A2A_WAIT_MS",
      env.get("AGENT_A2A_WAIT_MS"),
      A2A_WAIT_MS,
      0,
      3_600_000,
    ),
    publicUrl: publicUrlOf(env.get("AGENT_PUBLIC_URL")),
    port: wholeNumber("PORT", env.get("PORT"), 8000, 0, 65535),
    maxBodyBytes: wholeNumber(
      "AGENT_MAX_BODY_BYTES",
      env.get("AGENT_MAX_BODY_BYTES"),
      1024 * 1024,
      1,
      1024 ** 3,
    ),
    maxMessageBytes: wholeNumber(
      "AGENT_MAX_MESSAGE_BYTES",
      env.get("AGENT_MAX_MESSAGE_BYTES"),
      28 * 1024 * 1024,
      1,
      1024 ** 3,
    ),
  };
}

/**
 * Under Deno's own limit for a request head (about 64 KiB), so that a
 * longer one gets our JSON error, not an empty 400.
 */
const MAX_HEAD_BYTES = 60_000;

/**
 * Each admitted connection holds three file descriptors (the client's, and
 * both ends of the Unix socket behind the front door), so the default keeps
 * well inside the process's open-file limit: at most 1000.
 */
function defaultMaxConnections(): number {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
    if (soft > 0) return Math.max(16, Math.min(1_000, Math.floor((soft - 64) / 3)));
  } catch { /* not Linux: the fallback below */ }
  return 300;
}

/** `AGENT_PUBLIC_URL`: an http(s) URL, or none. */
function publicUrlOf(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const url = URL.parse(value);
  if (url?.protocol !== "http:" && url?.protocol !== "https:") {
    throw new ConfigError(
      `AGENT_PUBLIC_URL must be an http:// or https:// URL (where clients reach this server), got "${value}".`,
    );
  }
  return url.href;
}

/** Starts listening; an address that cannot be had is a setting to fix, said in one line. */
async function listening<T>(
  { hostname, port }: { hostname: string; port: number },
  listen: () => Promise<T>,
): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    const address = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    if (error instanceof Deno.errors.AddrInUse) {
      throw new ConfigError(
        `Cannot listen on ${address}: the address is already in use. Stop what listens there, or choose another PORT.`,
      );
    }
    if (
      error instanceof Deno.errors.AddrNotAvailable || error instanceof Deno.errors.PermissionDenied
    ) {
      throw new ConfigError(`Cannot listen on ${address}: ${error.message}. Check HOST and PORT.`);
    }
    throw error;
  }
}

/**
 * `deno task serve`: serves until stopped, and resolves with the exit
 * status: 0, or 2 for bad flags or settings (their message printed).
 *
 * @example
 * ```ts ignore
 * Deno.exit(await serveCommand(Deno.args));
 * ```
 */
export async function serveCommand(args: string[]): Promise<number> {
  try {
    await serve(args);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    return 2;
  }
}

// Deno.exit: a tool stuck in a CPU loop must not keep the process alive.
if (import.meta.main) Deno.exit(await serveCommand(Deno.args));
