/**
 * The messages between the supervisor's side and a tool worker.
 *
 * A worker serves `describe` → `description`, `ping` → `pong`, or `run` →
 * `started`, `progress`*, `handed_off`?, `result`. Each exchange has an `id`, so a
 * worker whose tool allows reuse can serve several calls, in turn or (with
 * `concurrency`) at once. Then it is terminated.
 *
 * @module
 */
import type { JsonSchema, ToolDeclaration, ToolPermissions } from "../../src/tool.ts";
import type { ToolResultBlock } from "../../src/tool_result_blocks.ts";

/** Sent to a tool worker. */
export type ToWorker =
  | { type: "describe"; id: number }
  /** Answered with `pong`: a warm worker's messaging is readied before its call. */
  | { type: "ping"; id: number }
  /** `task` is what the call becomes if the tool hands off; absent where no one could deliver. */
  | {
    type: "run";
    id: number;
    callId: string;
    conversationId?: string;
    metadata?: Record<string, unknown>;
    input: unknown;
    task?: { taskId: string; secret: string };
    /** The result is cut to this many UTF-8 bytes before it leaves the worker. */
    resultBytes: number;
    /** `"needsApproval"`: answer the tool's `needsApproval(input)` (JSON true or false) instead of running it. */
    entry?: "needsApproval";
  }
  | { type: "abort"; id: number; reason: "timeout" | "cancelled" };

/** A tool's metadata as its worker reports it (plain data, validated by the receiver). */
export interface ToolDescription extends ToolDeclaration {
  inputSchema: JsonSchema;
  permissions: ToolPermissions;
  /** Whether the module's `run` is a function. */
  runs: boolean;
}

/** A message without the exchange id, which the sending side adds. */
export type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

/** Sent by a tool worker; `id` is the exchange's. */
export type FromWorker =
  | { type: "description"; id: number; tool: ToolDescription }
  | { type: "started"; id: number }
  | { type: "pong"; id: number }
  | { type: "progress"; id: number; text: string }
  | { type: "handed_off"; id: number }
  /** `blocks`: images and documents the model gets; `content` then describes them. */
  | { type: "result"; id: number; ok: true; content: string; blocks?: ToolResultBlock[] }
  | { type: "result"; id: number; ok: false; message: string };

/**
 * The message if it is one a tool worker may send, else `undefined`: tool
 * code can post anything (`self.postMessage(undefined)`), and whatever it
 * posts must end its call, never the thread that reads it.
 *
 * @example
 * ```ts
 * import { readWorkerMessage } from "./protocol.ts";
 * import { assertEquals } from "@std/assert";
 * const progress = { type: "progress", id: 1, text: "1/3" };
 * assertEquals(readWorkerMessage(progress), progress);
 * assertEquals(readWorkerMessage(undefined), undefined);
 * assertEquals(readWorkerMessage({ type: "result", id: 1, ok: true, content: 42 }), undefined);
 * ```
 */
export function readWorkerMessage(data: unknown): FromWorker | undefined {
  if (typeof data !== "object" || data === null) return undefined;
  const message = data as Record<string, unknown>;
  const id = message.id;
  if (typeof id !== "number") return undefined;
  switch (message.type) {
    case "started":
    case "pong":
    case "handed_off":
      return { type: message.type, id };
    case "progress":
      return typeof message.text === "string"
        ? { type: "progress", id, text: message.text }
        : undefined;
    case "result":
      if (message.ok === true && typeof message.content === "string") {
        const blocks = Array.isArray(message.blocks)
          ? { blocks: message.blocks as ToolResultBlock[] }
          : {};
        return { type: "result", id, ok: true, content: message.content, ...blocks };
      }
      if (message.ok === false && typeof message.message === "string") {
        return { type: "result", id, ok: false, message: message.message };
      }
      return undefined;
    case "description":
      return typeof message.tool === "object" && message.tool !== null
        ? { type: "description", id, tool: message.tool as ToolDescription }
        : undefined;
  }
  return undefined;
}
