/**
 * The A2A task records, kept in the journal beside the conversations they
 * are turns of, instead of the SDK's in-memory store (which kept every
 * message ever sent, for the life of the process). Memory holds none of
 * them; a restart loses none of them.
 *
 * @module
 */
import { type ListTasksRequest, type ListTasksResponse, Task, TaskState } from "@a2a-js/sdk";
import type { ServerCallContext, TaskStore } from "@a2a-js/sdk/server";
import { RequestMalformedError } from "@a2a-js/sdk/errors";
import type { IndexKey, Journal } from "../journal/journal.ts";

const KIND = "a2a_task";
/** Every task, by when it was first saved. */
const BY_TIME = "a2a_by_time";
/** A conversation's tasks, by when each was first saved. */
const BY_CONTEXT = "a2a_by_context";

/** What is stored of a task: the task, and when it was first saved (its place in listings). */
interface StoredTask {
  task: unknown;
  createdAt: number;
}

/**
 * A {@linkcode TaskStore} in the journal. Every task is listed, newest
 * first; ListTasks reads only the page it returns.
 *
 * @example
 * ```ts ignore
 * new DefaultRequestHandler(card, new JournalTaskStore(journal), executor);
 * ```
 */
export class JournalTaskStore implements TaskStore {
  constructor(readonly journal: Journal, readonly now: () => number = Date.now) {}

  async save(task: Task, _context?: ServerCallContext): Promise<void> {
    const stored = await this.journal.readAside<StoredTask>(KIND, task.id);
    const createdAt = stored?.createdAt ?? this.now();
    await this.journal.saveAside(KIND, task.id, { task: Task.toJSON(task), createdAt }, [
      [BY_TIME, createdAt, task.id],
      [BY_CONTEXT, task.contextId, createdAt, task.id],
    ]);
  }

  async load(taskId: string, _context?: ServerCallContext): Promise<Task | undefined> {
    const stored = await this.journal.readAside<StoredTask>(KIND, taskId);
    return stored && Task.fromJSON(stored.task);
  }

  async list(params: ListTasksRequest, _context?: ServerCallContext): Promise<ListTasksResponse> {
    const pageSize = Math.min(Math.max(params.pageSize ?? 50, 1), 100);
    const prefix = params.contextId ? [BY_CONTEXT, params.contextId] : [BY_TIME];
    const before = params.pageToken ? [...prefix, ...decodeToken(params.pageToken)] : undefined;
    const keys = await this.journal.indexKeys(prefix, { limit: pageSize + 1, before });
    const page = keys.slice(0, pageSize);
    const after = params.statusTimestampAfter
      ? new Date(params.statusTimestampAfter).getTime()
      : undefined;
    const tasks: Task[] = [];
    for (const key of page) {
      const task = await this.load(key.at(-1) as string);
      if (!task || !matches(task, params.status, after)) continue;
      tasks.push(params.includeArtifacts ? task : { ...task, artifacts: [] });
    }
    const last = page.at(-1);
    return {
      tasks,
      nextPageToken: keys.length > pageSize && last ? encodeToken(last.slice(-2)) : "",
      pageSize,
      totalSize: (await this.journal.indexKeys(prefix)).length,
    };
  }
}

function matches(task: Task, state: TaskState | undefined, after: number | undefined): boolean {
  if (state && task.status?.state !== state) {
    return false;
  }
  const at = task.status?.timestamp ? new Date(task.status.timestamp).getTime() : 0;
  return after === undefined || at > after;
}

function encodeToken(key: IndexKey): string {
  return btoa(JSON.stringify(key));
}

function decodeToken(token: string): IndexKey {
  try {
    const key = JSON.parse(atob(token));
    if (Array.isArray(key) && typeof key[0] === "number" && typeof key[1] === "string") return key;
  } catch { /* below */ }
  throw new RequestMalformedError("The pageToken is not one this server gave.");
}
