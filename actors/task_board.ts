/**
 * The system's background tasks: started by supervisors, finished by their
 * workers or by an outside system, and handed to their conversation's inbox.
 *
 * @module
 */
import type { Journal } from "../src/journal/journal.ts";
import type { CallState } from "../src/journal/records.ts";
import { hashSecret, type TaskReason, type TaskRecord } from "../src/journal/tasks.ts";
import { limitResult } from "../src/limit_result.ts";

/** A task about to start. */
export interface NewTask {
  taskId: string;
  conversationId: string;
  callId: string;
  name: string;
  reason: TaskReason;
  /** For work handed to an outside system: the secret it must post the result with. */
  secret?: string;
}

/** How an outside system's delivery went. */
export type Delivery = "delivered" | "not_found" | "forbidden" | "conflict";

/** Task ids are `task_` and a UUID; anything else is not looked up. */
const TASK_ID = /^task_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the model is told of a handed-off task whose result never came. */
export function handOffExpired(ms: number): string {
  return `No result was posted within ${ms} ms of the hand-off (AGENT_HANDOFF_TIMEOUT_MS), so the task ended without one; a result posted later is refused.`;
}

/** What a restart leaves of a task that ran in a worker. */
export const INTERRUPTED_TASK =
  "Interrupted by a restart: the process running this task stopped before it finished.";

/**
 * Starts and finishes tasks; `onLanded` hears of every result that reached
 * an inbox, so its conversation can take it into a turn.
 *
 * @example
 * ```ts ignore
 * const tasks = new TaskBoard(journal, node, (conversationId) => system.wake(conversationId));
 * await tasks.start({ taskId, conversationId, callId, name: "crawl", reason: "background" });
 * await tasks.finish(taskId, "succeeded", "42 pages");
 * ```
 */
export class TaskBoard {
  readonly #journal: Journal;
  readonly #node: string;
  readonly #onLanded: (conversationId: string) => void;
  readonly #handOffTimeoutMs: number | undefined;

  constructor(
    journal: Journal,
    node: string,
    onLanded: (conversationId: string) => void,
    handOffTimeoutMs?: number,
  ) {
    this.#journal = journal;
    this.#node = node;
    this.#onLanded = onLanded;
    this.#handOffTimeoutMs = handOffTimeoutMs;
  }

  /** Records a running task; one with a secret waits for an outside system, not for a worker. */
  async start(task: NewTask): Promise<void> {
    const { secret, ...rest } = task;
    const now = Date.now();
    const expires = secret && this.#handOffTimeoutMs !== undefined;
    await this.#journal.startTask({
      ...rest,
      state: "running",
      ...(secret ? { secretHash: await hashSecret(secret) } : { node: this.#node }),
      ...(expires ? { expiresAt: now + this.#handOffTimeoutMs! } : {}),
      createdAt: now,
    });
  }

  /** Records a task's result (cut to size) and delivers it. False if it had one already. */
  async finish(taskId: string, state: CallState, content: string): Promise<boolean> {
    const task = await this.#journal.finishTask(taskId, { state, content: limitResult(content) });
    if (task) this.#onLanded(task.conversationId);
    return task !== undefined;
  }

  /** An outside system's result for a handed-off task, checked against its secret. */
  async deliver(
    taskId: string,
    secret: string,
    content: string,
    failed: boolean,
  ): Promise<Delivery> {
    const found = TASK_ID.test(taskId) ? await this.#journal.task(taskId) : undefined;
    if (!found?.task.secretHash) return "not_found";
    if (found.task.secretHash !== await hashSecret(secret)) return "forbidden";
    const finished = await this.finish(taskId, failed ? "failed" : "succeeded", content);
    return finished ? "delivered" : "conflict";
  }

  /** A task's record and result, if it exists; never its secret. */
  async get(
    taskId: string,
  ): Promise<{ task: Omit<TaskRecord, "secretHash" | "node">; result?: string } | undefined> {
    const found = TASK_ID.test(taskId) ? await this.#journal.task(taskId) : undefined;
    if (!found) return undefined;
    const { secretHash: _, node: __, ...task } = found.task;
    return { task, result: found.result };
  }

  /**
   * Finishes, as interrupted, the tasks whose worker ran in a process that
   * is gone, and as timed out the handed-off tasks whose time has run out.
   */
  async sweep(now: number = Date.now()): Promise<void> {
    for (const { taskId, node } of await this.#journal.runningTasks()) {
      if (node === this.#node || await this.#journal.isAlive(node)) continue;
      await this.finish(taskId, "interrupted", INTERRUPTED_TASK);
    }
    for (const { taskId, createdAt, expiresAt } of await this.#journal.expiredTasks(now)) {
      await this.finish(taskId, "timed_out", handOffExpired(expiresAt - createdAt));
    }
  }
}
