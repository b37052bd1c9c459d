/**
 * What the platform allows, detected at start-up and reported on `/healthz`.
 *
 * @module
 */

import type { Isolation } from "../actors/tool_executor.ts";

/** How tool workers are isolated. */
export type ToolSandbox =
  /** Each worker gets exactly its tool's declared permissions. */
  | "per-worker"
  /** The operator opted in to tools running with the host's permissions. */
  | "host"
  /** Per-worker permissions are not confirmed here, so no tool runs (fail closed). */
  | "disabled";

/** The capability flags. */
export interface Platform {
  /** Running on Deno Deploy. */
  deploy: boolean;
  /** `new Worker(…, { deno: { permissions } })` is available. */
  workerPermissions: boolean;
  /** Deno KV (`Deno.openKv`) is available. */
  kv: boolean;
  toolSandbox: ToolSandbox;
  /**
   * Where tool calls run: `process`, in tool host subprocesses (each a
   * failure domain), or `worker`, in Web Workers of the runtime's own
   * process (Deno Deploy, which starts no subprocesses).
   */
  toolIsolation: Isolation;
}

/**
 * Detects the platform. Per-worker permissions need the `worker-options`
 * unstable feature, and using it where it is off ends the process on the
 * spot (no exception to catch), so it cannot be probed. Locally deno.json
 * enables it; on Deno Deploy, where that is not confirmed, the operator must
 * say `AGENT_WORKER_PERMISSIONS=on` (verified there) or opt in to
 * unsandboxed tools with `AGENT_UNSANDBOXED_TOOLS=1`; otherwise tools are off.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { detectPlatform } from "./platform.ts";
 * assert(["per-worker", "host", "disabled"].includes(detectPlatform().toolSandbox));
 * ```
 */
export function detectPlatform(env: Pick<Deno.Env, "get"> = Deno.env): Platform {
  const deploy = Boolean(env.get("DENO_DEPLOYMENT_ID"));
  const workerPermissions = !deploy || env.get("AGENT_WORKER_PERMISSIONS") === "on";
  const toolSandbox: ToolSandbox = workerPermissions
    ? "per-worker"
    : env.get("AGENT_UNSANDBOXED_TOOLS") === "1"
    ? "host"
    : "disabled";
  const isolation = env.get("AGENT_TOOL_ISOLATION");
  const toolIsolation = isolation === "worker" || (deploy && isolation !== "process")
    ? "worker"
    : "process";
  return {
    deploy,
    workerPermissions,
    kv: typeof Deno.openKv === "function",
    toolSandbox,
    toolIsolation,
  };
}
