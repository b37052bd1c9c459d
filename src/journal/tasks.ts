/**
 * Background tasks: tool calls whose results reach the model after the
 * turn that made them, and what waits in a conversation's inbox.
 *
 * @module
 */
import type { UserBlock } from "../user_content.ts";
import type { CallState } from "./records.ts";

/** Why a call became a task. */
export type TaskReason =
  /** The tool declares `background: true`. */
  | "background"
  /** The call outlived the turn's limit. */
  | "turn_limit"
  /** The tool handed the work to an outside system (`ctx.handOff()`). */
  | "handed_off"
  /** The result arrived after the call had been reported as timed out. */
  | "late"
  /** The result arrived after another process had taken the conversation over. */
  | "taken_over";

/** A task, as stored. */
export interface TaskRecord {
  taskId: string;
  conversationId: string;
  callId: string;
  name: string;
  reason: TaskReason;
  state: CallState;
  /** The process whose worker runs it; an external task needs none. */
  node?: string;
  /** SHA-256 of the secret an outside system proves itself with (external tasks only). */
  secretHash?: string;
  createdAt: number;
  /** When a handed-off task that has no result by then ends as timed out. */
  expiresAt?: number;
  finishedAt?: number;
}

/** What waits in a conversation's inbox for its turn. */
export type InboxItem =
  | { type: "user_message"; messageId: string; text: string; content?: UserBlock[] }
  | { type: "task_result"; taskId: string };

/**
 * The hex SHA-256 of a task secret; only the hash is stored.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hashSecret } from "./tasks.ts";
 * assertEquals((await hashSecret("s3cret")).length, 64); // hex of a SHA-256
 * ```
 */
export async function hashSecret(secret: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
