/**
 * The server's front door: `Deno.serve` has no header or idle timeout and
 * no limit on connections, so a flood of connections that never finish a
 * request would hold file descriptors until the process dies. This accept
 * loop admits at most `maxConnections`, refuses the rest with a clean 503,
 * gives each connection `requestTimeoutMs` to send its whole request, and
 * hands it to `Deno.serve`, listening on a private Unix socket, one request
 * per connection.
 *
 * @module
 */
import { bodyComplete, parseRequestHead, type RequestHead } from "./_request_head.ts";
import { errorBody, RETRY_AFTER_SECONDS } from "./errors.ts";

/** How the front door guards the server. */
export interface FrontDoorOptions {
  hostname: string;
  port: number;
  /** Connections served at once; beyond it, 503. */
  maxConnections: number;
  /** Time from accepting a connection to having its whole request (head and body); else 408. */
  requestTimeoutMs: number;
  /** Largest request head (request line and headers); a longer one gets 414 or 431. */
  maxHeadBytes: number;
  onListen?: (addr: Deno.NetAddr) => void;
}

/** A running front door and the server behind it. */
export interface GuardedServer {
  addr: Deno.NetAddr;
  /** Connections being served now. */
  readonly open: number;
  /** Stops accepting, and resolves once the server behind has finished its requests. */
  shutdown(): Promise<void>;
  finished: Promise<void>;
}

/**
 * Serves `handler` behind the front door.
 *
 * @example
 * ```ts ignore
 * const server = await serveGuarded(
 *   { hostname: "127.0.0.1", port: 8000, maxConnections: 1000, requestTimeoutMs: 10_000, maxHeadBytes: 60_000 },
 *   app.fetch,
 * );
 * ```
 */
export async function serveGuarded(
  options: FrontDoorOptions,
  handler: Deno.ServeHandler<Deno.UnixAddr>,
): Promise<GuardedServer> {
  const dir = await Deno.makeTempDir({ prefix: "agent-http-" });
  const path = `${dir}/http.sock`;
  const inner = Deno.serve({ path, onListen: () => {} }, handler);
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  options.onListen?.(listener.addr);
  let open = 0;
  const accepting = (async () => {
    while (true) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return; // the listener was closed
        // Out of file descriptors (or a connection reset before it was accepted): keep accepting.
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_BACKOFF_MS));
        continue;
      }
      if (open >= options.maxConnections) {
        void answer(conn, 503, "server_busy", "Too many connections; try again shortly.");
        continue;
      }
      open++;
      void admit(conn, path, options).finally(() => open--);
    }
  })();
  const finished = Promise.all([accepting, inner.finished]).then(() =>
    Deno.remove(dir, { recursive: true }).catch(() => {})
  );
  return {
    addr: listener.addr,
    get open() {
      return open;
    },
    async shutdown() {
      listener.close();
      await inner.shutdown();
    },
    finished,
  };
}

/** Reads the connection's request within its deadline, then joins it to the server behind. */
async function admit(conn: Deno.Conn, path: string, options: FrontDoorOptions): Promise<void> {
  let upstream: Deno.UnixConn | undefined;
  const timer = setTimeout(
    () => void answer(conn, 408, "request_timeout", TIMEOUT),
    options.requestTimeoutMs,
  );
  try {
    const request = await readRequestHead(conn, options.maxHeadBytes);
    if (request === "closed") return conn.close();
    if (typeof request === "number") {
      clearTimeout(timer);
      const line = request === 414;
      return void answer(conn, request, "request_too_large", line ? LONG_URL : LONG_HEAD);
    }
    upstream = await Deno.connect({ transport: "unix", path });
    await writeAll(upstream, request.head.forwarded);
    // The body's end clears the deadline; from then on the request may take as long as its turn.
    const seeBody = bodyWatcher(request.head, () => clearTimeout(timer));
    seeBody(request.rest);
    // Whichever side ends first ends both: a client that leaves ends its response.
    await Promise.race([
      copy(conn, upstream, request.rest, seeBody),
      copy(upstream, conn),
    ]);
  } catch {
    // The client went away or was timed out: nothing to answer.
  } finally {
    clearTimeout(timer);
    for (const side of [conn, upstream]) {
      try {
        side?.close();
      } catch { /* closed already */ }
    }
  }
}

/** How long accepting pauses after an accept failed, e.g. for want of file descriptors. */
const ACCEPT_BACKOFF_MS = 50;

const TIMEOUT = "The request did not arrive in time; send it whole, promptly.";
const LONG_URL = "The URL is too long.";
const LONG_HEAD = "The request's headers are too large.";

/** The head, with any body bytes read past it; a status if it is too large; "closed" if none came. */
async function readRequestHead(
  conn: Deno.Conn,
  maxBytes: number,
): Promise<{ head: RequestHead; rest: Uint8Array } | 414 | 431 | "closed"> {
  let bytes: Uint8Array = new Uint8Array(0);
  const buffer = new Uint8Array(16_384);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) return "closed";
    bytes = concat(bytes, buffer.subarray(0, n));
    const head = parseRequestHead(bytes);
    if (head && head.length <= maxBytes) return { head, rest: bytes.subarray(head.length) };
    if (head || bytes.length > maxBytes) {
      const firstLine = new TextDecoder().decode(bytes.subarray(0, maxBytes)).indexOf("\r\n");
      return firstLine < 0 || firstLine > maxBytes / 2 ? 414 : 431;
    }
  }
}

/** Sees the body pass, chunk by chunk, and calls `done` once it is complete (at once for none). */
function bodyWatcher(head: RequestHead, done: () => void): (chunk: Uint8Array) => void {
  let received = 0;
  let tail = "";
  const decoder = new TextDecoder();
  return (chunk) => {
    received += chunk.length;
    tail = (tail + decoder.decode(chunk.subarray(Math.max(0, chunk.length - 7)))).slice(-7);
    if (bodyComplete(head.body, received, tail)) done();
  };
}

/**
 * Copies what `from` sends to `to` until either ends, `first` before it:
 * read and written straight, without the stream machinery that costs each
 * request a share of the main thread.
 */
async function copy(
  from: Deno.Conn,
  to: Deno.Conn,
  first?: Uint8Array,
  see?: (chunk: Uint8Array) => void,
): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    if (first?.length) await writeAll(to, first);
    while (true) {
      const n = await from.read(buffer);
      if (n === null) return;
      see?.(buffer.subarray(0, n));
      await writeAll(to, buffer.subarray(0, n));
    }
  } catch { /* either side went away: the caller closes both */ }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

/** Writes a complete JSON error response and closes the connection. */
async function answer(conn: Deno.Conn, status: number, type: string, message: string) {
  const body = JSON.stringify(errorBody(type, message));
  const reason = {
    408: "Request Timeout",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
  }[status] ?? "Error";
  const head = [
    `HTTP/1.1 ${status} ${reason}`,
    "content-type: application/json",
    `content-length: ${new TextEncoder().encode(body).length}`,
    "connection: close",
    ...(status === 503 ? [`retry-after: ${RETRY_AFTER_SECONDS}`] : []),
  ];
  try {
    await conn.write(new TextEncoder().encode(`${head.join("\r\n")}\r\n\r\n${body}`));
  } catch { /* the client is gone */ }
  try {
    conn.close();
  } catch { /* closed already */ }
}
