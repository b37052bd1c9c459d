/**
 * The tool contract: what a module in a tools folder default-exports.
 *
 * A tool module needs no imports at all; {@linkcode defineTool} only adds
 * type inference for `run`'s input.
 *
 * @module
 */

/** A JSON Schema object, as sent to the model in `input_schema`. */
export type JsonSchema = { type: "object"; [keyword: string]: unknown };

/**
 * One Deno permission as a worker accepts it: `true` for all, a list to
 * narrow it (hosts, paths, variable names, commands), `false` or omitted for none.
 */
export type PermissionGrant = boolean | string[];

/** The Deno permissions a tool's worker runs with. Omitted means none at all. */
export interface ToolPermissions {
  read?: PermissionGrant;
  write?: PermissionGrant;
  net?: PermissionGrant;
  env?: PermissionGrant;
  run?: PermissionGrant;
  sys?: PermissionGrant;
  ffi?: PermissionGrant;
  import?: PermissionGrant;
}

/** The permission names a tool may declare, in one place for validation. */
export const PERMISSION_NAMES = [
  "read",
  "write",
  "net",
  "env",
  "run",
  "sys",
  "ffi",
  "import",
] as const satisfies readonly (keyof ToolPermissions)[];

/**
 * What one call of a tool may use. Each omitted limit takes the operator's
 * default (see `resolveLimits`).
 */
export interface ToolLimits {
  /** Heap of the call's isolate, in MiB; beyond it the call ends as "ran out of memory". */
  memoryMb?: number;
  /** Longest result, in UTF-8 bytes of the text sent back; longer results are cut and say so. */
  resultBytes?: number;
  /** Progress messages passed on per second; the ones in between are coalesced into the latest. */
  progressPerSecond?: number;
  /** Longest progress text, in UTF-8 bytes; longer texts are cut. */
  progressBytes?: number;
}

/**
 * The Standard Schema v1 interface (https://standardschema.dev), which zod 4,
 * valibot and arktype implement; only the part this runtime calls.
 */
export interface StandardSchema<Output = unknown> {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    validate(value: unknown): StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly jsonSchema?: {
      input(options: { target: string }): Record<string, unknown>;
    };
  };
}

/** What a Standard Schema's `validate` returns. */
export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | {
    readonly issues: ReadonlyArray<
      {
        readonly message: string;
        readonly path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>;
      }
    >;
  };

/** What a running tool gets besides its input. */
export interface ToolContext {
  /** The `tool_use` id of this call. */
  callId: string;
  /** The conversation the call belongs to. */
  conversationId: string;
  /**
   * What the caller attached to the conversation when creating it (a user
   * id, a tenant): how a tool acts for the person it serves. Never sent to
   * the model. Empty when none was attached.
   */
  metadata: Readonly<Record<string, unknown>>;
  /** Aborted when the call times out or is cancelled; pass it on to `fetch` and friends. */
  signal: AbortSignal;
  /** Reports progress; shown live in the CLI and the event stream. */
  progress(text: string): void;
  /**
   * Hands the work to an outside system (a queue, a serverless function, a
   * person): the call continues as a background task, and finishes when that
   * system posts the result to `resultPath` with `Authorization: Bearer <secret>`.
   * What `run` returns after this is only an acknowledgement for the model.
   */
  handOff(): ExternalTask;
}

/** Where an outside system delivers the result of a handed-off call. */
export interface ExternalTask {
  taskId: string;
  /** Proves the poster may deliver this task's result; give it only to that system. */
  secret: string;
  /** `POST` the result here (relative to the runtime's HTTP API): `{"content": "…"}`. */
  resultPath: string;
}

/** How urgent a call is when it waits for a worker: `low` waits behind `normal`. */
export type CallPriority = "normal" | "low";

/**
 * What a tool declares about itself besides its input and `run`: plain
 * data, read when the tool is loaded.
 */
export interface ToolDeclaration {
  /** `^[a-zA-Z0-9_-]{1,64}$`, unique among the loaded tools. */
  name: string;
  description: string;
  /** Deno permissions for the tool's worker; omitted means none. */
  permissions?: ToolPermissions;
  /** Per-call time limit; else the runtime's default (`--timeout`). */
  timeoutMs?: number;
  /**
   * Runs as a background task: the model hears at once that the work goes
   * on, and gets the result in a later message.
   */
  background?: boolean;
  /** Safe to run twice: a call a crash interrupted is run once more instead of failing. */
  idempotent?: boolean;
  /** What one call may use; omitted limits take the operator's defaults. */
  limits?: ToolLimits;
  /**
   * Who shares a failure domain (a tool host process) with this tool's
   * calls: `"shared"` (default), calls of any conversation with the same
   * permissions and memory limit; `"conversation"`, only this tool's calls
   * of the same conversation, so no other conversation ever shares their fate.
   */
  isolation?: "shared" | "conversation";
  /**
   * Whether a worker whose call succeeded may serve a later call of this
   * tool, one call at a time, keeping its module state (never its
   * permissions, another tool, or the journal): `"conversation"`, later
   * calls of the same conversation; `"any"`, of any conversation. Omitted:
   * every call gets a fresh worker. A worker is retired after any failure,
   * timeout or cancellation, and after 1,000 calls.
   */
  reuse?: "conversation" | "any";
  /**
   * With `reuse`: how many calls one worker may run at once (1 to 1000;
   * default 1). For tools that mostly wait (on the network, a database), a
   * few workers then serve many calls, in the memory of a few isolates.
   */
  concurrency?: number;
  /**
   * With `idempotent`: extra attempts after a failure or timeout, with
   * exponential backoff and jitter (0 to 10; default: the operator's
   * `AGENT_TOOL_RETRIES`, 2). The model sees one result, with the attempts counted.
   */
  retries?: number;
  /** Calls of this tool running at once, across all conversations; more wait as `queued`. */
  maxConcurrent?: number;
  /** Calls of this tool started in any one second; more wait as `queued`. */
  perSecond?: number;
  /**
   * The turn cannot go on without this call: if it fails or times out, its
   * still-running siblings are cancelled and the model hears at once.
   */
  critical?: boolean;
  /**
   * `false`: failures of its calls never open its circuit breaker. For a
   * tool whose failures are its input's fault, not an outage (run_javascript
   * runs the model's code): one conversation's bad input must not make the
   * tool unavailable to every other. Default: a breaker like every tool's.
   */
  breaker?: boolean;
  /**
   * A person must approve each call before it runs (over HTTP, on the web
   * page or at the CLI's prompt); a denied call reaches the model as an
   * error with the reason. It holds no worker while it waits. On a
   * {@linkcode Tool}, a function of the call's input may decide instead; as
   * the catalog describes a tool, that is `"by_input"`.
   */
  needsApproval?: boolean | "by_input";
  /**
   * `"low"`: when every worker slot is taken, this tool's calls wait behind
   * interactive ones (yet get one freed slot in four, so they never starve).
   * Default: `"low"` for `background` tools, else `"normal"`.
   */
  priority?: CallPriority;
}

/** A tool: its declaration, input schema and `run`. */
export interface Tool<Input = unknown> extends Omit<ToolDeclaration, "needsApproval"> {
  /** The input as JSON Schema. Give this or `input`. */
  inputSchema?: JsonSchema;
  /** The input as a Standard Schema (e.g. zod); converted to JSON Schema for the model. */
  input?: StandardSchema<Input>;
  /** Runs one call. Return a string, or any JSON value (sent to the model as JSON). */
  run(input: Input, ctx: ToolContext): unknown;
  /**
   * `true`, or a function of the (validated) input: whether a person must
   * approve this call before it runs. The function runs in the tool's own
   * worker, with the tool's permissions; if it throws, the call fails.
   */
  needsApproval?: boolean | ((input: Input) => boolean | Promise<boolean>);
}

/**
 * Declares a tool with type inference for `run`'s input.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { defineTool } from "../src/tool.ts";
 *
 * export default defineTool({
 *   name: "shout",
 *   description: "Upper-cases a text.",
 *   input: z.object({ text: z.string() }),
 *   run: ({ text }) => text.toUpperCase(),
 * });
 * ```
 */
export function defineTool<Input>(tool: Tool<Input>): Tool<Input> {
  return tool;
}

export { toolContent, type ToolResultBlock } from "./tool_result_blocks.ts";
