/**
 * The result of a turn that another server drives, as this one hears it:
 * from the events of the records it writes, once its turn has ended.
 *
 * @module
 */
import type { ConversationEvent, ToolCallSummary } from "../../src/events.ts";
import type { TurnResult } from "./turn.ts";

/**
 * Follows the events `subscribe` gives until the turn of the message
 * `messageId` has ended, and resolves with its result.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { followTurn } from "./_followed_turn.ts";
 * const listeners: ((event: never) => void)[] = [];
 * const result = followTurn((listener) => {
 *   listeners.push(listener);
 *   return () => {};
 * }, "m1");
 * const usage = { inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0 };
 * for (const event of [
 *   { type: "turn_started", messageId: "m1" },
 *   { type: "turn_finished", stopReason: "end_turn", text: "Hi.", steps: 1, usage },
 * ]) listeners[0](event as never);
 * assertEquals((await result).status, "completed");
 * ```
 */
export function followTurn(
  subscribe: (listener: (event: ConversationEvent) => void) => () => void,
  messageId: string,
): Promise<TurnResult> {
  const { promise, resolve } = Promise.withResolvers<TurnResult>();
  let inTurn = false;
  const toolCalls: ToolCallSummary[] = [];
  const unsubscribe = subscribe((event) => {
    if (event.type === "turn_started") inTurn = event.messageId === messageId;
    if (!inTurn) return;
    if (event.type === "tool_call_finished") {
      const { type: _, content: _content, conversationId: _c, id: _i, at: _a, ...call } = event;
      toolCalls.push(call);
    } else if (event.type === "turn_finished" || event.type === "turn_failed") {
      const { steps, usage } = event;
      unsubscribe();
      resolve(
        event.type === "turn_finished"
          ? {
            status: "completed",
            stopReason: event.stopReason,
            text: event.text,
            steps,
            usage,
            toolCalls,
          }
          : { status: "failed", error: event.error, steps, usage, toolCalls },
      );
    }
  });
  return promise;
}
