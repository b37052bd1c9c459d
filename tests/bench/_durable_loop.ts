/**
 * The steps of the turns bench's "loop + KV + host process" column, with
 * none of this runtime's code: what the SDK `Promise.all` loop needs to
 * keep this runtime's two guarantees, for the platform's own cost of them.
 *
 * - Durable steps: each message is committed to a Deno KV file, the loop
 *   waiting where a crash must not lose a step (see `sdkLoop`).
 * - Isolation: the tools run in a Web Worker of another process, reached
 *   over a Unix socket (one JSON line per call and per result), as in a
 *   tool host.
 *
 * `deno run -A tests/bench/_durable_loop.ts child SOCKET TOOL_URL...` is the other process.
 *
 * @module
 */
import { TextLineStream } from "@std/streams/text-line-stream";

/** What the SDK loop of `_turn_drivers.ts` does at each step. */
export interface LoopSteps {
  /** Keeps one message of a conversation; the loop awaits it where a step must be durable. */
  commit(conversation: number, message: unknown): unknown;
  run(name: string, input: unknown): unknown;
}

/**
 * Steps committed to a fresh Deno KV file, and the tools of `toolModules`
 * (their URLs) run in a Web Worker of another process.
 */
export async function durableSteps(toolModules: string[]): Promise<LoopSteps & AsyncDisposable> {
  const kv = await Deno.openKv(`${await Deno.makeTempDir()}/journal.kv`);
  const host = await toolProcess(toolModules);
  const seqs: number[] = [];
  return {
    commit(conversation, message) {
      const seq = seqs[conversation] = (seqs[conversation] ?? -1) + 1;
      return kv.set(["log", conversation, seq], JSON.stringify(message));
    },
    run: (name, input) => host.run(name, input),
    async [Symbol.asyncDispose]() {
      await host[Symbol.asyncDispose]();
      kv.close();
    },
  };
}

/** This file as a child process, its calls answered by id. */
async function toolProcess(toolModules: string[]) {
  const path = `${await Deno.makeTempDir()}/tools.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--lock=${new URL("./deno.lock", import.meta.url).pathname}`,
      import.meta.filename!,
      "child",
      path,
      ...toolModules,
    ],
  }).spawn();
  const connection = await listener.accept();
  listener.close();
  const waiting = new Map<number, (result: unknown) => void>();
  const reading = (async () => {
    for await (const line of lines(connection)) {
      const { id, result } = JSON.parse(line);
      waiting.get(id)!(result);
      waiting.delete(id);
    }
  })();
  const send = lineWriter(connection);
  let calls = 0;
  return {
    run(name: string, input: unknown): Promise<unknown> {
      const id = calls++;
      const { promise, resolve } = Promise.withResolvers<unknown>();
      waiting.set(id, resolve);
      send({ id, name, input });
      return promise;
    },
    async [Symbol.asyncDispose]() {
      connection.close();
      await reading.catch(() => {});
      await child.status;
    },
  };
}

function lines(connection: Deno.Conn): AsyncIterable<string> {
  return connection.readable.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream());
}

/** Sends values as JSON lines, in order, whole (a bare `write` may write part of one). */
function lineWriter(connection: Deno.Conn): (value: unknown) => void {
  const writer = connection.writable.getWriter();
  const encoder = new TextEncoder();
  return (value) => void writer.write(encoder.encode(`${JSON.stringify(value)}\n`)).catch(() => {});
}

/** What the child's worker runs: each call's tool, its result posted back. */
function workerSource(toolModules: string[]): string {
  return `const tools = {};
for (const url of ${
    JSON.stringify(toolModules)
  }) { const tool = (await import(url)).default; tools[tool.name] = tool; }
onmessage = async ({ data: { id, name, input } }) => postMessage({ id, result: await tools[name].run(input) });`;
}

/** The child: each line read is a call for its worker, each result a line back. */
async function serveChild(path: string, toolModules: string[]): Promise<void> {
  const connection = await Deno.connect({ transport: "unix", path });
  const source = encodeURIComponent(workerSource(toolModules));
  const worker = new Worker(`data:application/javascript,${source}`, {
    type: "module",
  });
  const send = lineWriter(connection);
  worker.onmessage = ({ data }) => send(data);
  for await (const line of lines(connection)) worker.postMessage(JSON.parse(line));
  Deno.exit(0);
}

if (import.meta.main && Deno.args[0] === "child") {
  await serveChild(Deno.args[1], Deno.args.slice(2));
}
