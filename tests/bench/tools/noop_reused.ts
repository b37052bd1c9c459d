import noop from "./noop.ts";

/** `noop`, declared reusable. */
export default { ...noop, name: "noop_reused", reuse: "any" };
