/**
 * Runs in a worker of its own: sends this process's heartbeat to the
 * journal file on a thread that the main thread's work (a burst of
 * `new Worker()` calls blocks it for tens of milliseconds each) cannot
 * delay. Only a dead process stops beating.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { Journal } from "../src/journal/journal.ts";
import { openJournal } from "../src/journal/open_journal.ts";
import { errorMessage } from "../src/_error_message.ts";
import type { HeartbeatOrder, HeartbeatReport } from "./_heartbeat_messages.ts";

let stop: (() => Promise<void>) | undefined;

self.onmessage = async ({ data }: MessageEvent<HeartbeatOrder>) => {
  const report = (message: HeartbeatReport) => self.postMessage(message);
  if (data.type === "stop") {
    await stop?.();
    return report({ type: "stopped" });
  }
  const { address, node, ttlMs, everyMs } = data;
  // Its own connection to the store: its writes never wait behind the main thread. Opened at
  // the first beat, and again at the next while it cannot be (a database that is down).
  let journal: Journal | undefined;
  let beating: Promise<unknown> | undefined;
  let failing = false;
  const beat = async () => {
    journal ??= await openJournal(address);
    await journal.heartbeat(node, ttlMs);
  };
  // One beat at a time: one to a store that does not answer waits out its timeout first.
  const next = () =>
    beating ??= beat().then(() => {
      if (failing) report({ type: "beat" });
      failing = false;
    }, (error) => {
      failing = true;
      report({ type: "failed", message: errorMessage(error) });
    }).finally(() => beating = undefined);
  next();
  const timer = setInterval(next, everyMs);
  stop = async () => {
    clearInterval(timer);
    await beating; // so that no beat lands after the heartbeat is removed
    await journal?.forget(node).catch(() => {});
    await journal?.close();
  };
};
