import { assert, assertEquals } from "@std/assert";
import { WorkerPool, type WorkerSpec } from "./worker_pool.ts";

const counter: WorkerSpec = {
  moduleUrl: new URL("../../tests/fixtures/tools/counter.ts", import.meta.url).href,
  permissions: {},
};

/** Runs one `counter` call on a leased worker and says what it answered. */
function served(pool: WorkerPool, reuseKey?: string): Promise<string> {
  const lease = pool.take(counter, reuseKey ? { key: reuseKey, concurrency: 1 } : undefined);
  const { promise, resolve } = Promise.withResolvers<string>();
  const id = lease.worker.open({
    onMessage: (message) => {
      if (message.type !== "result") return;
      lease.worker.close(id);
      if (lease.end(message.ok ? "succeeded" : "failed")) lease.worker.stop();
      resolve(message.ok ? message.content : message.message);
    },
    onCrash: () => {},
  });
  lease.worker.send(id, { type: "run", callId: "toolu_1", input: {}, resultBytes: 1024 });
  return promise;
}

Deno.test("after a burst, as many warm workers wait for the next one, each never used", async () => {
  const pool = new WorkerPool();
  try {
    assertEquals(await Promise.all([served(pool), served(pool), served(pool)]), ["1", "1", "1"]);
    await pool.refilled();
    assertEquals(pool.idle, 3);
    // Warm workers are fresh: module state starts anew.
    assertEquals(await Promise.all([served(pool), served(pool), served(pool)]), ["1", "1", "1"]);
  } finally {
    pool.close();
  }
});

Deno.test("a tool named by the model gets a warm worker before its call arrives", async () => {
  const pool = new WorkerPool();
  try {
    pool.prepare(counter);
    await pool.refilled();
    assertEquals(pool.idle, 1);
    assertEquals(await served(pool), "1");
  } finally {
    pool.close();
  }
});

Deno.test("calls about to join a shared worker with room get no warm workers spawned for them", async () => {
  const pool = new WorkerPool();
  const reuse = { key: "any", concurrency: 10 };
  try {
    const lease = pool.take(counter, reuse);
    await pool.refilled();
    const idle = pool.idle;
    for (let i = 0; i < 5; i++) pool.prepare(counter, reuse);
    await pool.refilled();
    assertEquals(pool.idle, idle);
    lease.end("succeeded");
  } finally {
    pool.close();
  }
});

Deno.test("busy workers that calls share keep one warm worker per reuse key beside them", async () => {
  const pool = new WorkerPool();
  const reuse = { key: "any", concurrency: 1 };
  try {
    // Three calls at once, each a worker of its own (one call each at a time).
    const leases = [
      pool.take(counter, reuse),
      pool.take(counter, reuse),
      pool.take(counter, reuse),
    ];
    await pool.refilled();
    assertEquals(pool.idle, 1, "one warm worker, not one per busy worker");
    leases.forEach((lease) => lease.end("succeeded"));
  } finally {
    pool.close();
  }
});

Deno.test("a module that cannot load is not warmed again and again", async () => {
  const pool = new WorkerPool();
  const missing = {
    moduleUrl: new URL("./no_such_tool.ts", import.meta.url).href,
    permissions: {},
  };
  try {
    const lease = pool.take(missing);
    const crashed = Promise.withResolvers<void>();
    lease.worker.open({ onMessage: () => {}, onCrash: () => crashed.resolve() });
    await crashed.promise;
    assertEquals(lease.end("crashed"), true);
    lease.worker.stop();
    pool.prepare(missing);
    await pool.refilled();
    // A warm worker spawned before the crash was known crashes in turn; none follows it.
    await until(() => pool.idle === 0);
    pool.prepare(missing);
    await pool.refilled();
    assertEquals(pool.idle, 0);
  } finally {
    pool.close();
  }
});

Deno.test("a fresh worker whose call succeeded is stopped once the calls beside it have ended", async () => {
  const pool = new WorkerPool();
  try {
    const [first, second] = [pool.take(counter), pool.take(counter)];
    assertEquals(first.end("succeeded"), false, "the pool stops it");
    assert(!first.worker.stopped, "its tear-down waits for the call beside it");
    assertEquals(second.end("succeeded"), false);
    await until(() => first.worker.stopped && second.worker.stopped);
  } finally {
    pool.close();
  }
});

Deno.test("a spent fresh worker is stopped even while other calls of its tool run on", async () => {
  const pool = new WorkerPool();
  try {
    const [spent, running] = [pool.take(counter), pool.take(counter)];
    spent.end("succeeded");
    await until(() => spent.worker.stopped);
    assert(!running.worker.stopped);
    running.end("succeeded");
  } finally {
    pool.close();
  }
});

Deno.test("spent fresh workers beyond maxIdle are stopped at once, so load cannot pile them up", () => {
  const pool = new WorkerPool({ maxIdle: 1 });
  try {
    const [kept, over, running] = [pool.take(counter), pool.take(counter), pool.take(counter)];
    kept.end("succeeded");
    over.end("succeeded");
    assert(!kept.worker.stopped);
    assert(over.worker.stopped);
    running.end("succeeded");
  } finally {
    pool.close();
  }
});

Deno.test("a fresh worker whose call failed is the caller's to stop at once", () => {
  const pool = new WorkerPool();
  try {
    const lease = pool.take(counter);
    assertEquals(lease.end("failed"), true);
    lease.worker.stop();
  } finally {
    pool.close();
  }
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

Deno.test("a reused worker is retired after its bounded number of calls", async () => {
  const pool = new WorkerPool({ maxCallsPerWorker: 2 });
  try {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await served(pool, "a"));
    assertEquals(answers, ["1", "2", "1"]);
  } finally {
    pool.close();
  }
});

Deno.test("closing the pool stops its idle workers, and a call ending after it starts none", async () => {
  const pool = new WorkerPool();
  assertEquals([await served(pool, "a"), await served(pool, "a")], ["1", "2"]);
  await pool.refilled();
  const late = pool.take(counter);
  pool.close();
  assertEquals(pool.idle, 0);
  if (late.end("succeeded")) late.worker.stop();
  let refilled = false;
  pool.refilled().then(() => refilled = true);
  await Promise.resolve();
  assertEquals(refilled, true, "no refill was started");
});
