/**
 * The A2A 1.0 endpoint, through the official `@a2a-js/sdk` request
 * handler: the agent card at `/.well-known/agent-card.json` (skills from
 * the tools) and JSON-RPC at `POST /a2a` (`SendMessage`,
 * `SendStreamingMessage`, `GetTask`, `CancelTask`…). Bad requests get
 * JSON-RPC error objects, never a 5xx.
 *
 * @module
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { AgentCard, Task } from "@a2a-js/sdk";
import {
  DefaultRequestHandler,
  defaultServerCallContextBuilder,
  JsonRpcTransportHandler,
  UnauthenticatedUser,
  validateVersion,
} from "@a2a-js/sdk/server";
import type { AgentSystem } from "../../actors/agent_system.ts";
import config from "../../deno.json" with { type: "json" };
import { TurnExecutor } from "./a2a_executor.ts";
import { JournalTaskStore } from "./a2a_task_store.ts";
import { errors, HOST_REFUSED } from "./schemas.ts";
import { answerToV03, cardFieldsForV03, isV03Call, requestFromV03 } from "./a2a_v03.ts";

/** How the A2A endpoint is served. */
export interface A2aOptions {
  /** The API token, announced as the card's bearer scheme (the app requires it on `/a2a`). */
  token?: string;
  /** Where clients reach this server, as the card announces it. */
  publicUrl: () => string;
  /**
   * How long a blocking `SendMessage` waits for its task to end before it
   * answers with the task as it stands (still working; the client follows
   * it with `GetTask`). Default {@linkcode A2A_WAIT_MS}.
   */
  waitMs?: number;
}

/** How long a blocking `SendMessage` waits by default: a minute. */
export const A2A_WAIT_MS = 60_000;

/** Where the JSON-RPC endpoint is, under the server's origin. */
const ENDPOINT = "/a2a";

const JSON_RPC = {
  content: {
    "application/json": { schema: z.looseObject({ jsonrpc: z.literal("2.0") }) },
    "text/event-stream": { schema: z.string() },
  },
  description:
    "A JSON-RPC 2.0 response (errors too, with HTTP 200), or for SendStreamingMessage server-sent events, each `data:` a JSON-RPC response",
};

/**
 * The A2A routes for `system`. The card's endpoint is `publicUrl` (a
 * request's own `Host` is never trusted for it).
 *
 * @example
 * ```ts ignore
 * app.route("/", a2aRoutes(system, { publicUrl: () => "https://agent.example.com" }));
 * ```
 */
export function a2aRoutes(system: AgentSystem, options: A2aOptions): OpenAPIHono {
  const { token, publicUrl } = options;
  const card = agentCard(system, publicUrl(), Boolean(token));
  const store = new JournalTaskStore(system.journal);
  const executor = new TurnExecutor(system);
  const handler = new DefaultRequestHandler(card, store, executor);
  const transport = new JsonRpcTransportHandler(handler);
  const routes = new OpenAPIHono();
  routes.openapi(
    createRoute({
      method: "get",
      path: "/.well-known/agent-card.json",
      operationId: "getAgentCard",
      summary: "The A2A agent card: name, skills (the tools), the endpoint, its security",
      security: [], // public, with a token too
      responses: {
        ...errors({ 403: HOST_REFUSED }),
        200: {
          description: "The card",
          content: { "application/json": { schema: z.looseObject({}) } },
        },
      },
    }),
    (c) =>
      c.json({
        ...AgentCard.toJSON(agentCard(system, publicUrl(), Boolean(token))) as object,
        // Read by A2A 0.3 clients; 1.0 ones read `supportedInterfaces`.
        ...cardFieldsForV03(new URL(ENDPOINT, publicUrl()).href),
      }, 200),
  );
  routes.openapi(
    createRoute({
      method: "post",
      path: ENDPOINT,
      operationId: "callA2a",
      summary:
        "A2A JSON-RPC: SendMessage, SendStreamingMessage, GetTask, CancelTask (1.0); message/send, message/stream, tasks/get, tasks/cancel (0.3)",
      description:
        "A message's `contextId` is the conversation's id (a new conversation when there is none); its task is the turn it starts.",
      responses: {
        200: JSON_RPC,
        ...errors({
          401: "The token is missing or wrong (when the server has one)",
          403: HOST_REFUSED,
        }),
      },
    }),
    (c) =>
      serveJsonRpc(c, transport, card, { store, executor, waitMs: options.waitMs ?? A2A_WAIT_MS }),
  );
  return routes;
}

/** What a blocking `SendMessage` needs to answer early. */
interface Waiting {
  store: JournalTaskStore;
  executor: TurnExecutor;
  waitMs: number;
}

async function serveJsonRpc(
  c: Context,
  transport: JsonRpcTransportHandler,
  card: AgentCard,
  waiting: Waiting,
): Promise<Response> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return c.json(rpcError(null, -32700, "Parse error: the body is not JSON."));
  }
  // An A2A 0.3 client's call is served as the 1.0 call it stands for, and answered in 0.3.
  const v03 = isV03Call(body);
  if (v03) body = requestFromV03(body as Record<string, unknown>);
  const said = (answer: unknown) => v03 ? answerToV03(answer as Record<string, unknown>) : answer;
  const id = (body as { id?: unknown })?.id ?? null;
  try {
    const context = defaultServerCallContextBuilder({
      extensions: undefined,
      user: new UnauthenticatedUser(),
      headers: Object.fromEntries(c.req.raw.headers),
      // A client that names no version gets the one this server speaks, not a refusal.
      requestedVersion: c.req.header("a2a-version") || "1.0",
    });
    validateVersion(context.requestedVersion ?? "1.0", card, "JSONRPC");
    // JSON-RPC lets a request leave out `params`: an unknown method is then still -32601.
    const request = body as Record<string, unknown>;
    const handled = transport.handle(
      request && typeof request === "object" && !("params" in request)
        ? { ...request, params: {} }
        : request,
      context,
    );
    const answer = await answerWithin(handled, body, id, waiting);
    if (!(Symbol.asyncIterator in answer)) return c.json(said(answer));
    return streamSSE(c, async (stream) => {
      try {
        for await (const event of answer) {
          await stream.writeSSE({ data: JSON.stringify(said(event)) });
        }
      } catch (error) {
        const { code, message } = JsonRpcTransportHandler.mapToJSONRPCError(error);
        await stream.writeSSE({
          event: "error",
          data: JSON.stringify(rpcError(id, code, message)),
        });
      }
    });
  } catch (error) {
    const { code, message } = JsonRpcTransportHandler.mapToJSONRPCError(error);
    return c.json(rpcError(id, code, message));
  }
}

/**
 * The handler's answer; for a `SendMessage` whose task has not ended after
 * `waitMs`, the task as it stands (its turn goes on, and its end is saved).
 */
async function answerWithin<T>(
  handled: Promise<T>,
  body: unknown,
  id: unknown,
  { store, executor, waitMs }: Waiting,
): Promise<T | { jsonrpc: "2.0"; id: unknown; result: { task: unknown } }> {
  const request = body as { method?: string; params?: { message?: { messageId?: string } } };
  const messageId = request.params?.message?.messageId;
  if (request.method !== "SendMessage" || !messageId) return await handled;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<"waited">((resolve) => timer = setTimeout(resolve, waitMs, "waited"));
  try {
    const first = await Promise.race([handled, waited]);
    const taskId = first === "waited" ? executor.taskOf(messageId) : undefined;
    const task = taskId && await store.load(taskId);
    if (!task) return await handled;
    handled.catch(() => {}); // it goes on; its outcome is in the store
    return { jsonrpc: "2.0", id, result: { task: Task.toJSON(task) } };
  } finally {
    clearTimeout(timer);
  }
}

function rpcError(id: unknown, code: number, message: string) {
  return { jsonrpc: "2.0", id, error: { code, message } };
}

/** The card: its skills are the tools, its interface this server's `/a2a`. */
function agentCard(system: AgentSystem, origin: string, tokenRequired: boolean): AgentCard {
  const bearer = {
    scheme: {
      $case: "httpAuthSecurityScheme" as const,
      value: { description: "AGENT_API_TOKEN", scheme: "Bearer", bearerFormat: "" },
    },
  };
  return {
    name: "agent-runtime",
    description:
      "Claude with tools that run isolated and in parallel; each message is a turn of the conversation its contextId names.",
    version: config.version,
    supportedInterfaces: [{
      url: new URL(ENDPOINT, origin).href,
      protocolBinding: "JSONRPC",
      protocolVersion: "1.0",
      tenant: "",
    }],
    provider: undefined,
    capabilities: { streaming: true, pushNotifications: false, extensions: [] },
    securitySchemes: tokenRequired ? { bearer } : {},
    securityRequirements: tokenRequired ? [{ schemes: { bearer: { list: [] } } }] : [],
    defaultInputModes: ["text/plain"],
    defaultOutputModes: ["text/plain"],
    skills: system.settings.catalog.list().map((tool) => ({
      id: tool.name,
      name: tool.name,
      description: tool.description,
      tags: ["tool"],
      examples: [],
      inputModes: ["text/plain"],
      outputModes: ["text/plain"],
      securityRequirements: [],
    })),
    signatures: [],
  };
}
