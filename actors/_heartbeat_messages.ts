/**
 * The messages between the system and its heartbeat worker, apart from the
 * worker's module (which is typed for a worker's global scope).
 *
 * @module
 */

/** What the worker is told: start beating, or stop and say the process is gone. */
export type HeartbeatOrder =
  | { type: "start"; address: string; node: string; ttlMs: number; everyMs: number }
  | { type: "stop" };

/**
 * What it reports: a beat that failed, the first beat that succeeded after
 * one failed, or that it has stopped and removed the heartbeat.
 */
export type HeartbeatReport =
  | { type: "failed"; message: string }
  | { type: "beat" }
  | { type: "stopped" };
