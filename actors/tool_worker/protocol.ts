/**
 * The messages between the supervisor's side and a tool worker.
 *
 * A worker lives for one exchange: `describe` → `description`, or
 * `run` → `started`, `progress`*, `handed_off`?, `result`. Then it is terminated.
 *
 * @module
 */
import type { JsonSchema, ToolPermissions } from "../../src/tool.ts";

/** Sent to a tool worker. */
export type ToWorker =
  | { type: "describe" }
  /** `task` is what the call becomes if the tool hands off; absent where no one could deliver. */
  | { type: "run"; callId: string; input: unknown; task?: { taskId: string; secret: string } }
  | { type: "abort"; reason: "timeout" | "cancelled" };

/** A tool's metadata as its worker reports it (plain data, validated by the receiver). */
export interface ToolDescription {
  name: string;
  description: string;
  inputSchema: JsonSchema;
  permissions: ToolPermissions;
  timeoutMs?: number;
  background?: boolean;
  idempotent?: boolean;
  /** Whether the module's `run` is a function. */
  runs: boolean;
}

/** Sent by a tool worker. */
export type FromWorker =
  | { type: "description"; tool: ToolDescription }
  | { type: "started" }
  | { type: "progress"; text: string }
  | { type: "handed_off" }
  | { type: "result"; ok: true; content: string }
  | { type: "result"; ok: false; message: string };
