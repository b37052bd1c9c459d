import { defineTool } from "../src/tool.ts";

const AsyncFunction = (async () => {}).constructor as new (
  ...args: string[]
) => () => Promise<unknown>;

/**
 * Runs a JavaScript snippet in its own worker with no permissions at all:
 * no files, no network, no environment. `console.log` output is returned too.
 * Model-written code gets the strictest limits of the built-in tools.
 */
export default defineTool<{ code: string }>({
  name: "run_javascript",
  description:
    "Runs a JavaScript snippet (the body of an async function: use `return` for the result, `await` is allowed) in a sandbox with no file, network or environment access. Returns the result and anything logged with console.log.",
  inputSchema: {
    type: "object",
    properties: { code: { type: "string", description: "Function body, e.g. `return 6 * 7;`" } },
    required: ["code"],
    additionalProperties: false,
  },
  timeoutMs: 5_000,
  limits: { memoryMb: 128, resultBytes: 64 * 1024, progressPerSecond: 1 },
  // Model-written code shares its process with no other conversation's calls.
  isolation: "conversation",
  // Its failures are the model's code failing, not the tool: they must not make it unavailable.
  breaker: false,
  async run({ code }) {
    const logs: string[] = [];
    console.log = (...args: unknown[]) => logs.push(args.map(String).join(" "));
    const result = await new AsyncFunction(code)();
    return { result: result === undefined ? null : result, logs };
  },
});
