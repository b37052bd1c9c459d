import wait from "./wait.ts";

/** `wait`, declared reusable: its workers serve later calls, up to 100 at once each. */
export default { ...wait, name: "wait_reused", reuse: "any", concurrency: 100 };
