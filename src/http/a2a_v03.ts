/**
 * A2A 0.3 on the 1.0 endpoint: clients of 0.3 (`message/send`,
 * `message/stream`, `tasks/get`, `tasks/cancel`; `kind`-tagged objects,
 * lower-case states and roles) are still common. Their requests are
 * translated to 1.0 and the answers back, so that one handler serves both.
 *
 * @module
 */

type Json = Record<string, unknown>;

/** The 0.3 method names, and the 1.0 method each is. */
const METHODS: Record<string, string> = {
  "message/send": "SendMessage",
  "message/stream": "SendStreamingMessage",
  "tasks/get": "GetTask",
  "tasks/cancel": "CancelTask",
};

/**
 * Whether `request` is an A2A 0.3 call (by its method name).
 *
 * @example
 * ```ts
 * import { isV03Call } from "./a2a_v03.ts";
 * import { assert } from "@std/assert";
 * assert(isV03Call({ method: "message/send" }) && !isV03Call({ method: "SendMessage" }));
 * ```
 */
export function isV03Call(request: unknown): request is Json {
  const method = (request as Json | null)?.method;
  return typeof method === "string" && Object.hasOwn(METHODS, method);
}

/**
 * The 1.0 request a 0.3 one stands for.
 *
 * @example
 * ```ts
 * import { requestFromV03 } from "./a2a_v03.ts";
 * import { assertEquals } from "@std/assert";
 * const message = { kind: "message", messageId: "m1", role: "user", parts: [{ kind: "text", text: "hi" }] };
 * assertEquals(requestFromV03({ jsonrpc: "2.0", id: 1, method: "message/send", params: { message } }), {
 *   jsonrpc: "2.0",
 *   id: 1,
 *   method: "SendMessage",
 *   params: { message: { messageId: "m1", role: "ROLE_USER", parts: [{ text: "hi" }] } },
 * });
 * ```
 */
export function requestFromV03(request: Json): Json {
  const params = (request.params ?? {}) as Json;
  const { message, configuration: _ignored, ...rest } = params;
  return {
    ...request,
    method: METHODS[request.method as string],
    params: message ? { ...rest, message: messageFromV03(message as Json) } : rest,
  };
}

/**
 * A 1.0 result (of a call, or one event of a stream) as 0.3 says it: a
 * `Task`, `Message`, `TaskStatusUpdateEvent` or `TaskArtifactUpdateEvent`.
 */
function resultToV03(result: Json): Json {
  if (result.task) return taskToV03(result.task as Json);
  if (result.message) return messageToV03(result.message as Json);
  if (result.statusUpdate) {
    const update = result.statusUpdate as Json;
    const status = statusToV03(update.status as Json);
    const final = ["completed", "failed", "canceled", "rejected"].includes(status.state as string);
    return { kind: "status-update", ...update, status, final };
  }
  if (result.artifactUpdate) {
    const update = result.artifactUpdate as Json;
    return {
      kind: "artifact-update",
      ...update,
      artifact: artifactToV03(update.artifact as Json),
    };
  }
  return taskToV03(result); // GetTask and CancelTask answer the task itself
}

/** A 1.0 JSON-RPC answer with its result as 0.3 says it (errors are the same in both). */
export function answerToV03(answer: Json): Json {
  return answer.result ? { ...answer, result: resultToV03(answer.result as Json) } : answer;
}

/** The fields a 0.3 client reads from the agent card, beside the 1.0 ones. */
export function cardFieldsForV03(endpoint: string): Json {
  return { protocolVersion: "0.3.0", url: endpoint, preferredTransport: "JSONRPC" };
}

function messageFromV03({ kind: _, role, parts, ...rest }: Json): Json {
  return {
    ...rest,
    role: role === "agent" ? "ROLE_AGENT" : "ROLE_USER",
    parts: ((parts ?? []) as Json[]).map(({ kind: _kind, ...part }) => part),
  };
}

function messageToV03({ role, parts, ...rest }: Json): Json {
  return {
    kind: "message",
    ...rest,
    role: role === "ROLE_AGENT" ? "agent" : "user",
    parts: partsToV03(parts),
  };
}

function taskToV03({ status, artifacts, history, ...rest }: Json): Json {
  return {
    kind: "task",
    ...rest,
    status: statusToV03(status as Json),
    artifacts: ((artifacts ?? []) as Json[]).map(artifactToV03),
    history: ((history ?? []) as Json[]).map(messageToV03),
  };
}

function statusToV03({ state, message, ...rest }: Json = {}): Json {
  return {
    ...rest,
    state: String(state ?? "").replace(/^TASK_STATE_/, "").toLowerCase().replace("_", "-")
      .replace("unspecified", "unknown"),
    ...(message ? { message: messageToV03(message as Json) } : {}),
  };
}

function artifactToV03({ parts, ...rest }: Json): Json {
  return { ...rest, parts: partsToV03(parts) };
}

/** 1.0 parts carry what they hold as their one field; 0.3 tags them with a `kind`. */
function partsToV03(parts: unknown): Json[] {
  return ((parts ?? []) as Json[]).map((part) =>
    "text" in part
      ? { kind: "text", ...part }
      : "data" in part
      ? { kind: "data", ...part }
      : { kind: "file", ...part }
  );
}
