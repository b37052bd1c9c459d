/**
 * The supervisor's handle on one tool worker: a Web Worker that loads exactly
 * one tool module with exactly the tool's declared Deno permissions.
 *
 * @module
 */
import type { ToolSandbox } from "../../src/platform.ts";
import { PERMISSION_NAMES, type ToolPermissions } from "../../src/tool.ts";
import { type FromWorker, readWorkerMessage, type ToWorker, type WithoutId } from "./protocol.ts";

const WORKER_MAIN = new URL("./worker_main.ts", import.meta.url).href;
const SANDBOX_PRELUDE = new URL("./sandbox_prelude.ts", import.meta.url).href;
const entryUrls = new Map<string, string>();

/** Where the messages of one exchange (a call, or a `describe`) go. */
export interface Exchange {
  onMessage(message: FromWorker): void;
  /** The worker's module failed to load, or it threw uncaught, or it broke the protocol. */
  onCrash(message: string): void;
}

/**
 * A tool worker actor: spawned for one tool module; each exchange with it
 * (`open`) gets the messages of its own id; stopped with `stop()`.
 *
 * @example
 * ```ts ignore
 * const worker = ToolWorker.spawn("file:///app/tools/current_time.ts", {});
 * const id = worker.open({ onMessage: console.log, onCrash: console.error });
 * worker.send(id, { type: "describe" });
 * ```
 */
export class ToolWorker {
  /**
   * How every tool worker of this process is isolated; set once at start-up
   * from the platform's capabilities (see `detectPlatform`).
   */
  static sandbox: ToolSandbox = "per-worker";
  /** Called for a message or crash while no exchange is open (an idle worker has nothing to say). */
  onStray: () => void = () => {};
  #worker: Worker;
  #exchanges = new Map<number, Exchange>();
  #nextId = 1;
  #stopped = false;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (event: MessageEvent<unknown>) => {
      const message = readWorkerMessage(event.data);
      if (!message) return this.#crash("the tool sent a message the runtime does not understand");
      const exchange = this.#exchanges.get(message.id);
      if (exchange) exchange.onMessage(message);
      else if (this.#exchanges.size === 0) this.onStray();
    };
    worker.onerror = (event) => {
      event.preventDefault(); // an error in a tool must never take the host down
      this.#crash(event.message ?? "the tool worker crashed");
    };
    worker.onmessageerror = () => this.#crash("the tool worker sent a message that cannot be read");
  }

  /**
   * Spawns a worker for the tool module at `moduleUrl`. Throws if the host
   * itself lacks a permission the tool declares.
   */
  static spawn(moduleUrl: string, permissions: ToolPermissions): ToolWorker {
    if (ToolWorker.sandbox === "disabled" && !SAFE_WITHOUT_SANDBOX.includes(moduleUrl)) {
      throw new Error(
        "tools are disabled here: per-worker permissions are not confirmed on this platform " +
          "(set AGENT_WORKER_PERMISSIONS=on once verified, or AGENT_UNSANDBOXED_TOOLS=1 to run tools with full access)",
      );
    }
    const sandboxed = ToolWorker.sandbox === "per-worker";
    // A module file that is not there fails as if it had failed to load, but said by us: Deno
    // itself would print the load failure of a worker on stderr, which no handler can stop.
    const missing = _missingFile(moduleUrl);
    const tool = new ToolWorker(
      new Worker(missing ? EMPTY_MODULE : entryUrl(moduleUrl), {
        type: "module",
        name: moduleUrl,
        ...(sandboxed ? { deno: { permissions: workerPermissions(permissions) } } : {}),
      }),
    );
    if (missing) setTimeout(() => tool.#crash(missing));
    return tool;
  }

  /** Starts an exchange: the worker's messages with the returned id go to `exchange`. */
  open(exchange: Exchange): number {
    const id = this.#nextId++;
    this.#exchanges.set(id, exchange);
    return id;
  }

  /**
   * Trades one message with the worker while it waits for a call: Deno
   * readies a worker's messaging on first use, which cost a fresh worker's
   * call 1-2 ms more (a burst of ten on 2 cores began 15 ms late). A crash
   * meanwhile is reported as a stray one.
   */
  warmUp(): void {
    const id = this.open({
      onMessage: () => this.close(id),
      onCrash: () => {
        this.close(id);
        this.onStray();
      },
    });
    this.send(id, { type: "ping" });
  }

  /** Ends an exchange: its later messages are ignored. */
  close(id: number): void {
    this.#exchanges.delete(id);
  }

  /** Sends a message of exchange `id`. */
  send(id: number, message: WithoutId<ToWorker>): void {
    this.#worker.postMessage({ ...message, id });
  }

  /** Whether {@linkcode stop} was called. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Terminates the worker. */
  stop(): void {
    this.#stopped = true;
    this.#worker.terminate();
  }

  /** Every open exchange learns of it: one bad message poisons the whole worker. */
  #crash(message: string): void {
    if (this.#stopped) return;
    if (this.#exchanges.size === 0) return this.onStray();
    for (const exchange of [...this.#exchanges.values()]) exchange.onCrash(message);
  }
}

/** What a worker runs in place of a tool module that is not there. */
const EMPTY_MODULE = "data:application/javascript,";

/** Module files found: a tool's module is looked for once, not at every spawn. */
const presentModules = new Set<string>();

/** `Module not found "…"` for a file URL with no file behind it (unknown when it cannot be read). */
function _missingFile(moduleUrl: string): string | undefined {
  if (!moduleUrl.startsWith("file:") || presentModules.has(moduleUrl)) return undefined;
  try {
    Deno.statSync(new URL(moduleUrl));
    presentModules.add(moduleUrl); // looked up once: spawning a worker stays free of file system calls
    return undefined;
  } catch (error) {
    return error instanceof Deno.errors.NotFound ? `Module not found "${moduleUrl}".` : undefined;
  }
}

/**
 * The built-in tools that stay safe where workers cannot be given their own
 * permissions (Deno Deploy, until the operator confirms them): our own code,
 * which runs no code it is given and opens no file, so that it needs no
 * sandbox to keep to what it declares. Where the sandbox is off, only these run.
 */
export const SAFE_WITHOUT_SANDBOX: readonly string[] = ["current_time.ts", "fetch_url.ts"]
  .map((file) => new URL(`../../tools/${file}`, import.meta.url).href);

/**
 * The worker's main module imports the tool statically: a dynamic import
 * would need read permission, which most tools must not have. The sandbox
 * prelude is imported first, so it runs before any of the tool's code; the
 * worker's main module next, so it holds the messages that come while the
 * tool's module is still loading.
 */
function entryUrl(moduleUrl: string): string {
  let url = entryUrls.get(moduleUrl);
  if (!url) {
    const source = `import ${JSON.stringify(SANDBOX_PRELUDE)};\n` +
      `import { serveTool } from ${JSON.stringify(WORKER_MAIN)};\n` +
      `import tool from ${JSON.stringify(moduleUrl)};\nserveTool(tool);\n`;
    url = `data:application/typescript,${encodeURIComponent(source)}`;
    entryUrls.set(moduleUrl, url);
  }
  return url;
}

/** Every permission is spelled out, so nothing is inherited from the host. */
function workerPermissions(permissions: ToolPermissions): Deno.PermissionOptionsObject {
  return Object.fromEntries(
    PERMISSION_NAMES.map((name) => [name, permissions[name] ?? false]),
  ) as Deno.PermissionOptionsObject;
}
