import { assertEquals } from "@std/assert";
import { type Task, TaskState } from "@a2a-js/sdk";
import { KvJournal } from "../journal/kv_journal.ts";
import { JournalTaskStore } from "./a2a_task_store.ts";

function task(id: string, contextId: string, state: TaskState, text = ""): Task {
  return {
    id,
    contextId,
    status: { state, timestamp: new Date(0).toISOString(), message: undefined },
    artifacts: [],
    history: [],
    metadata: { text },
  } as unknown as Task;
}

const request = (fields: Record<string, unknown>) =>
  ({ tenant: "", contextId: "", pageToken: "", statusTimestampAfter: undefined, ...fields }) as // deno-lint-ignore no-explicit-any -- a ListTasksRequest with only the fields a test sets
  any;

Deno.test("tasks are listed newest first, a page at a time, by conversation too", async () => {
  await using journal = await KvJournal.open(":memory:");
  let now = 0;
  const store = new JournalTaskStore(journal, () => ++now);
  for (const [id, context] of [["t1", "a"], ["t2", "b"], ["t3", "a"], ["t4", "a"]]) {
    await store.save(task(id, context, TaskState.TASK_STATE_COMPLETED));
  }
  await store.save(task("t1", "a", TaskState.TASK_STATE_FAILED)); // saved again: keeps its place
  const first = await store.list(request({ pageSize: 2 }));
  assertEquals(first.tasks.map((t) => t.id), ["t4", "t3"]);
  assertEquals(first.totalSize, 4);
  const second = await store.list(request({ pageSize: 2, pageToken: first.nextPageToken }));
  assertEquals([second.tasks.map((t) => t.id), second.nextPageToken], [["t2", "t1"], ""]);
  assertEquals(second.tasks[1].status?.state, TaskState.TASK_STATE_FAILED);
  const inA = await store.list(request({ contextId: "a", status: TaskState.TASK_STATE_COMPLETED }));
  assertEquals(inA.tasks.map((t) => t.id), ["t4", "t3"]);
});

Deno.test("a large task saved again replaces its chunks, leaving none behind", async () => {
  await using journal = await KvJournal.open(":memory:");
  const store = new JournalTaskStore(journal);
  for (let i = 0; i < 3; i++) {
    await store.save(task("t1", "a", TaskState.TASK_STATE_WORKING, `${i}`.repeat(200_000)));
  }
  assertEquals((await store.load("t1"))?.metadata, { text: "2".repeat(200_000) });
  assertEquals(await journal.orphans(), []);
});
