/**
 * Runs inside a tool worker: answers `describe` and `run` for the one tool
 * module the worker was spawned for. Tool code only ever runs here.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { StandardSchema, Tool } from "../../src/tool.ts";
import type { FromWorker, ToolDescription, ToWorker, WithoutId } from "./protocol.ts";
import { errorMessage } from "../../src/_error_message.ts";
import { limitResult } from "../../src/limit_result.ts";
import { blocksBytes, describeBlocks, resultBlocksOf } from "../../src/tool_result_blocks.ts";

/**
 * Messages that came while the tool's module was still loading (it may await
 * at its top level): without a handler they would be dropped.
 */
const early: MessageEvent<ToWorker>[] = [];
self.onmessage = (event: MessageEvent<ToWorker>) => early.push(event);

// Deno readies a worker's timers when one is first set, which made the first call of a warm
// worker 20-50 ms late on a tool's own timers: done here, while the worker waits for its call.
setTimeout(() => {}, 0);

/**
 * Serves one tool (a module's default export) to the thread that spawned this worker.
 *
 * @example
 * ```ts ignore
 * import tool from "./tools/current_time.ts";
 * serveTool(tool);
 * ```
 */
export function serveTool(module: unknown): void {
  // Whatever the module exports: its description is validated by the receiver, and
  // a worker type-checked under `deno test` must not fail on a plain-object tool.
  const tool = module as Tool;
  // Calls by exchange id: a worker its tool allows to be reused may serve several.
  const running = new Map<number, AbortController>();
  const reply = (message: FromWorker) => self.postMessage(message);
  const receive = async ({ data }: MessageEvent<ToWorker>) => {
    switch (data.type) {
      case "describe":
        return reply({ type: "description", id: data.id, tool: describe(tool) });
      case "ping":
        return reply({ type: "pong", id: data.id });
      case "abort":
        return running.get(data.id)?.abort(
          data.reason === "timeout"
            ? new DOMException("The call timed out", "TimeoutError")
            : new DOMException("The call was cancelled", "AbortError"),
        );
      case "run": {
        const abort = new AbortController();
        running.set(data.id, abort);
        reply({ type: "started", id: data.id });
        const result = await run(tool, data, abort.signal, reply);
        running.delete(data.id);
        return reply({ ...result, id: data.id });
      }
    }
  };
  self.onmessage = receive;
  early.splice(0).forEach(receive);
}

function describe(tool: Tool | undefined): ToolDescription {
  const { run, input, inputSchema, needsApproval, ...declared } = tool ?? ({} as Partial<Tool>);
  // Only data crosses to the receiver, which keeps the fields it knows and validates them.
  const data = Object.entries(declared).filter(([, value]) => typeof value !== "function");
  return {
    ...Object.fromEntries(data),
    needsApproval: typeof needsApproval === "function" ? "by_input" : needsApproval,
    permissions: declared.permissions ?? {},
    inputSchema: inputSchema ?? jsonSchemaOf(input),
    runs: typeof run === "function",
  } as ToolDescription;
}

function jsonSchemaOf(schema: StandardSchema | undefined): ToolDescription["inputSchema"] {
  const convert = schema?.["~standard"]?.jsonSchema;
  if (!convert) return undefined as never; // the receiver reports the missing schema
  const { $schema: _, ...jsonSchema } = convert.input({ target: "draft-2020-12" });
  return jsonSchema as ToolDescription["inputSchema"];
}

/** What a call ends with; the caller adds the exchange id. */
type Result = WithoutId<Extract<FromWorker, { type: "result" }>>;

async function run(
  tool: Tool,
  { id, callId, conversationId = "", metadata = {}, input: rawInput, task, resultBytes, entry }:
    Extract<ToWorker, { type: "run" }>,
  signal: AbortSignal,
  reply: (message: FromWorker) => void,
): Promise<Result> {
  try {
    let input = rawInput;
    if (tool.input) {
      const parsed = await tool.input["~standard"].validate(rawInput);
      if (parsed.issues) {
        return {
          type: "result",
          ok: false,
          message: `Invalid input: ${formatIssues(parsed.issues)}`,
        };
      }
      input = parsed.value;
    }
    if (entry === "needsApproval") {
      const asks = typeof tool.needsApproval === "function"
        ? await tool.needsApproval(input)
        : tool.needsApproval;
      return { type: "result", ok: true, content: JSON.stringify(asks === true) };
    }
    const progress = (text: string) => reply({ type: "progress", id, text: String(text) });
    const handOff = () => {
      if (!task) throw new Error(NO_HAND_OFF);
      reply({ type: "handed_off", id });
      return { ...task, resultPath: `/v1/tasks/${task.taskId}/result` };
    };
    const context = { callId, conversationId, metadata, signal, progress, handOff };
    const value = await tool.run(input, context);
    const blocks = resultBlocksOf(value);
    if (!blocks) {
      return { type: "result", ok: true, content: limitResult(toContent(value), resultBytes) };
    }
    // Images and documents cannot be cut: past the limit, the call fails saying so.
    const bytes = blocksBytes(blocks);
    if (bytes > resultBytes) {
      return {
        type: "result",
        ok: false,
        message:
          `The tool returned images or documents of ${bytes} bytes, more than the ${resultBytes} a result may hold (the tool's limits.resultBytes, else AGENT_TOOL_RESULT_BYTES).`,
      };
    }
    return { type: "result", ok: true, content: describeBlocks(blocks), blocks };
  } catch (error) {
    return { type: "result", ok: false, message: failureMessage(error) };
  }
}

/**
 * Deno's advice for a denied permission ("run again with the --allow-net
 * flag") is for a whole program; a tool gets a permission by declaring it.
 */
function failureMessage(error: unknown): string {
  return errorMessage(error).replace(
    /, run again with the --allow-(\w+) flag\.?$/,
    (_, name) =>
      `. The tool does not declare this permission: add it to the tool's \`permissions\` (for example \`permissions: { ${name}: ["…"] }\`).`,
  );
}

const NO_HAND_OFF =
  "ctx.handOff() is not available here: this runtime has no HTTP endpoint an outside system could post the result to. Run the agent with `deno task serve` to hand work off.";

function toContent(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw new TypeError(`the tool returned a ${typeof value}, not a JSON value`);
  }
  return json;
}

type Issues = Exclude<
  Awaited<ReturnType<StandardSchema["~standard"]["validate"]>>["issues"],
  undefined
>;

function formatIssues(issues: Issues): string {
  return issues.map(({ message, path }) => {
    const at = (path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join(".");
    return at ? `${at}: ${message}` : message;
  }).join("; ");
}
