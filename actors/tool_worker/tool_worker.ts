/**
 * The supervisor's handle on one tool worker: a Web Worker that loads exactly
 * one tool module with exactly the tool's declared Deno permissions.
 *
 * @module
 */
import type { ToolSandbox } from "../../src/platform.ts";
import { PERMISSION_NAMES, type ToolPermissions } from "../../src/tool.ts";
import { type FromWorker, readWorkerMessage, type ToWorker } from "./protocol.ts";

const WORKER_MAIN = new URL("./worker_main.ts", import.meta.url).href;
const SANDBOX_PRELUDE = new URL("./sandbox_prelude.ts", import.meta.url).href;
const entryUrls = new Map<string, string>();

/**
 * A tool worker actor: spawned for one tool module, receives the worker's
 * messages (or its crash) through `onMessage`/`onCrash`, stopped with `stop()`.
 *
 * @example
 * ```ts ignore
 * const worker = ToolWorker.spawn("file:///app/tools/current_time.ts", {});
 * worker.onMessage = (message) => console.log(message);
 * worker.send({ type: "describe" });
 * ```
 */
export class ToolWorker {
  /**
   * How every tool worker of this process is isolated; set once at start-up
   * from the platform's capabilities (see `detectPlatform`).
   */
  static sandbox: ToolSandbox = "per-worker";
  /** Called for each message of the worker. */
  onMessage: (message: FromWorker) => void = () => {};
  /** Called when the worker's module fails to load or throws uncaught. */
  onCrash: (message: string) => void = () => {};
  #worker: Worker;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (event: MessageEvent<unknown>) => {
      const message = readWorkerMessage(event.data);
      if (message) this.onMessage(message);
      else this.onCrash("the tool sent a message the runtime does not understand");
    };
    worker.onerror = (event) => {
      event.preventDefault(); // an error in a tool must never take the host down
      this.onCrash(event.message ?? "the tool worker crashed");
    };
    worker.onmessageerror = () =>
      this.onCrash("the tool worker sent a message that cannot be read");
  }

  /**
   * Spawns a worker for the tool module at `moduleUrl`. Throws if the host
   * itself lacks a permission the tool declares.
   */
  static spawn(moduleUrl: string, permissions: ToolPermissions): ToolWorker {
    if (ToolWorker.sandbox === "disabled") {
      throw new Error(
        "tools are disabled here: per-worker permissions are not confirmed on this platform " +
          "(set AGENT_WORKER_PERMISSIONS=on once verified, or AGENT_UNSANDBOXED_TOOLS=1 to run tools with full access)",
      );
    }
    const sandboxed = ToolWorker.sandbox === "per-worker";
    return new ToolWorker(
      new Worker(entryUrl(moduleUrl), {
        type: "module",
        name: moduleUrl,
        ...(sandboxed ? { deno: { permissions: workerPermissions(permissions) } } : {}),
      }),
    );
  }

  /** Sends a message to the worker. */
  send(message: ToWorker): void {
    this.#worker.postMessage(message);
  }

  /** Terminates the worker. */
  stop(): void {
    this.#worker.terminate();
  }
}

/**
 * The worker's main module imports the tool statically: a dynamic import
 * would need read permission, which most tools must not have. The sandbox
 * prelude is imported first, so it runs before any of the tool's code.
 */
function entryUrl(moduleUrl: string): string {
  let url = entryUrls.get(moduleUrl);
  if (!url) {
    const source = `import ${JSON.stringify(SANDBOX_PRELUDE)};\n` +
      `import tool from ${JSON.stringify(moduleUrl)};\n` +
      `import { serveTool } from ${JSON.stringify(WORKER_MAIN)};\nserveTool(tool);\n`;
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
