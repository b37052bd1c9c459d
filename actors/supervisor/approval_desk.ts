/**
 * Human approval of tool calls: a call of a tool that `needsApproval` waits
 * here, holding no worker, until a person decides or its time runs out.
 * Decisions are journaled once per call, so one made in another process,
 * or before a restart, counts the same.
 *
 * @module
 */
import type { Journal } from "../../src/journal/journal.ts";
import type { ApprovalDecision, CallRecord, CallState } from "../../src/journal/records.ts";
import type { CatalogTool } from "../../src/tool_catalog.ts";
import { callPlacement, type Refusal, refusal, type ToolBatchContext } from "./tool_batch.ts";

/** How often a waiting call looks for a decision written by another process. */
const POLL_MS = 1_000;

/**
 * The decisions of one conversation's calls.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ApprovalDesk } from "./approval_desk.ts";
 * import { KvJournal } from "../../src/journal/kv_journal.ts";
 * await using journal = await KvJournal.open(":memory:");
 * const desk = new ApprovalDesk(journal, "c1");
 * const waiting = desk.wait("toolu_1", undefined, new AbortController().signal);
 * await desk.decide("toolu_1", { approved: true });
 * assertEquals(await waiting, { approved: true });
 * assertEquals(await desk.decide("toolu_1", { approved: false }), false); // decided already
 * ```
 */
export class ApprovalDesk {
  readonly #journal: Journal;
  readonly #conversationId: string;
  readonly #timeoutMs: number | undefined;
  readonly #waiting = new Map<string, (decision: ApprovalDecision) => void>();

  /** With `timeoutMs`, a call no one decides in that time is denied; without, it waits. */
  constructor(journal: Journal, conversationId: string, timeoutMs?: number) {
    this.#journal = journal;
    this.#conversationId = conversationId;
    this.#timeoutMs = timeoutMs;
  }

  /** When a call that starts waiting now is denied undecided (epoch ms), if ever. */
  deadline(): number | undefined {
    return this.#timeoutMs === undefined ? undefined : Date.now() + this.#timeoutMs;
  }

  /** Records a decision; false if the call was decided already. */
  async decide(callId: string, decision: ApprovalDecision): Promise<boolean> {
    const counted = await this.#journal.decide(this.#conversationId, callId, decision);
    if (counted) this.#waiting.get(callId)?.(decision);
    return counted;
  }

  /**
   * The decision on `callId` once there is one; a denial once `expiresAt`
   * (epoch ms) passes undecided; undefined if `signal` aborts first.
   */
  async wait(
    callId: string,
    expiresAt: number | undefined,
    signal: AbortSignal,
  ): Promise<ApprovalDecision | undefined> {
    const here = Promise.withResolvers<ApprovalDecision>();
    this.#waiting.set(callId, here.resolve);
    try {
      while (!signal.aborted) {
        const decided = await this.#journal.decisionOf(this.#conversationId, callId);
        if (decided) return decided;
        if (expiresAt !== undefined && Date.now() >= expiresAt) {
          const expired = { approved: false, reason: "no one decided in time" };
          if (await this.decide(callId, expired)) return expired;
          continue; // a decision came at the last moment: it counts
        }
        const wake = Math.min(POLL_MS, (expiresAt ?? Infinity) - Date.now());
        const decision = await Promise.race([here.promise, pause(wake, signal)]);
        if (decision) return decision;
      }
      return undefined;
    } finally {
      this.#waiting.delete(callId);
    }
  }
}

function pause(ms: number, signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve(undefined);
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Whether the call must wait for a decision before it may run: its tool
 * always needs one, or its tool's own check said so before (the call
 * waits, after a restart too).
 */
export function needsDecision(call: CallRecord, tool: CatalogTool): boolean {
  if (call.decision?.approved === true) return false;
  return tool.needsApproval === true ||
    (tool.needsApproval === "by_input" && call.state === "awaiting_approval");
}

/** Whether the call's tool must first be asked, in its own worker, if this input needs approval. */
export function asksByInput(call: CallRecord, tool: CatalogTool): boolean {
  return tool.needsApproval === "by_input" && call.decision === undefined &&
    call.state !== "awaiting_approval";
}

/**
 * Asks a `by_input` tool's `needsApproval(input)`, in the tool's own
 * worker: whether the call needs approval, or why it cannot run (the check
 * failed: the call fails rather than run unchecked).
 */
export async function askTool(
  call: CallRecord,
  tool: CatalogTool,
  context: ToolBatchContext,
): Promise<boolean | Refusal> {
  const outcome = await context.executor.run({
    name: call.name,
    ...callPlacement(tool, context.conversationId, context.limits),
    callId: call.callId,
    input: call.input,
    timeoutMs: tool.timeoutMs ?? context.defaultTimeoutMs,
    signal: context.signal,
    entry: "needsApproval",
  });
  if (outcome.status === "succeeded") return outcome.content === "true";
  return refusal(
    `The tool's needsApproval check ${
      outcome.status.replace("_", " ")
    }, so the call did not run: ${outcome.content}`,
  );
}

/**
 * Asks for approval (journaled and announced) and waits for it. Resolves
 * with nothing once approved, or with how the call ends without running.
 */
export async function awaitApproval(
  call: CallRecord,
  context: ToolBatchContext,
): Promise<{ status: CallState; content: string } | undefined> {
  const { callId } = call;
  let expiresAt = call.expiresAt;
  if (call.state !== "awaiting_approval") {
    expiresAt = context.approvals.deadline();
    await context.record([{ callId, state: "awaiting_approval", expiresAt }]);
  }
  // Announced from its record: a call already waiting (after a restart) is announced by the replay.
  const decision = await context.approvals.wait(callId, expiresAt, context.signal);
  if (!decision) return { status: "cancelled", content: "Cancelled while waiting for approval." };
  const state = decision.approved ? "queued" : "awaiting_approval";
  await context.record([{ callId, state, decision }]);
  return decision.approved ? undefined : { status: "failed", content: deniedText(decision) };
}

/**
 * What the model reads of a denied call.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { deniedText } from "./approval_desk.ts";
 * assertEquals(
 *   deniedText({ approved: false, reason: "not on prod" }),
 *   "The call was denied, so it did not run: not on prod",
 * );
 * ```
 */
export function deniedText({ reason }: ApprovalDecision): string {
  return `The call was denied, so it did not run${reason ? `: ${reason}` : "."}`;
}
