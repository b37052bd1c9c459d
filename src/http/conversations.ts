/**
 * `/v1/conversations`: list, create, send messages (JSON or a live stream),
 * read history and status, watch events, cancel, approve or deny a call.
 *
 * @module
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { AgentSystem } from "../../actors/agent_system.ts";
import type { ConversationSupervisor } from "../../actors/supervisor/conversation_supervisor.ts";
import { ConfigError } from "../config_error.ts";
import { cacheHitRate } from "../token_usage.ts";
import { textOfBlocks, type UserBlock } from "../user_content.ts";
import { apiError, unavailable } from "./errors.ts";
import { ConversationEventSchema } from "./event_schema.ts";
import { replayable, streamEvents, type StreamSlots } from "./event_stream.ts";
import {
  Approval,
  CallParams,
  Conversation,
  ConversationParams,
  ConversationSummary,
  errors,
  json,
  Listing,
  NewConversation,
  NewMessage,
  TurnResult,
} from "./schemas.ts";
import { requireJson, validationHook } from "./validation.ts";

type Env = { Variables: { conversation: ConversationSupervisor } };

const EVENTS = {
  content: { "text/event-stream": { schema: ConversationEventSchema } },
  description:
    "Server-sent events: `id` (increasing for the conversation's whole life), `event` (its type), `data` (the event as JSON).",
};

/**
 * The conversation routes of `system`.
 *
 * @example
 * ```ts ignore
 * app.route("/v1/conversations", conversationRoutes(system, shutdown.signal, new StreamSlots(500)));
 * ```
 */
export function conversationRoutes(
  system: AgentSystem,
  shutdown: AbortSignal,
  streams: StreamSlots,
): OpenAPIHono<Env> {
  const routes = new OpenAPIHono<Env>({ defaultHook: validationHook });
  const found = findConversation(system);

  routes.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "listConversations",
      summary: "The newest conversations first",
      request: { query: Listing },
      responses: {
        200: json(z.object({ conversations: z.array(ConversationSummary) }), "Conversations"),
        ...errors({ 400: "A bad limit" }),
      },
    }),
    async (c) => {
      const conversations = await system.list(c.req.valid("query").limit);
      return c.json({
        conversations: conversations.map(({ id, createdAt, turnOpen, title }) => ({
          id,
          createdAt,
          state: turnOpen ? "running" as const : "idle" as const,
          title,
        })),
      }, 200);
    },
  );

  routes.openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "createConversation",
      summary: "Start a conversation",
      middleware: [requireJson] as const,
      request: { body: { ...json(NewConversation, "Its settings, all optional") } },
      responses: {
        201: json(Conversation, "Created"),
        ...errors({ 400: "An unknown tool or a bad field", 415: "A body that is not JSON" }),
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      try {
        const conversation = await system.createConversation({
          system: body.system,
          modelName: body.model,
          tools: body.tools,
          maxTokens: body.maxTokens,
          metadata: body.metadata,
          thinking: body.thinking,
          effort: body.effort,
        });
        return c.json(describe(conversation), 201);
      } catch (error) {
        if (error instanceof ConfigError) {
          return apiError(c, 400, "invalid_request", error.message);
        }
        throw error;
      }
    },
  );

  routes.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      operationId: "getConversation",
      summary: "A conversation, its status and history",
      middleware: [found] as const,
      request: { params: ConversationParams },
      responses: {
        200: json(
          Conversation.extend({ history: z.array(z.unknown()) }),
          "With its history in Messages API format",
        ),
        ...errors({ 404: "No such conversation" }),
      },
    }),
    async (c) => {
      const conversation = c.get("conversation");
      await conversation.refresh();
      return c.json({ ...describe(conversation), history: conversation.history }, 200);
    },
  );

  const sending = {
    middleware: [found, refuseWhenSaturated(system), requireJson],
    request: {
      params: ConversationParams,
      body: { ...json(NewMessage, "The message"), required: true },
    },
  };
  const sendingErrors = errors({
    400: "An empty or over-long message",
    404: "No such conversation",
    409: "Another process drives the conversation",
    415: "A body that is not JSON",
    503: "Every tool worker is busy, or (streamed) every event stream is taken",
  });
  const send = sendMessage(streams, shutdown);

  routes.openapi(
    createRoute({
      method: "post",
      path: "/{id}/messages",
      operationId: "sendMessage",
      summary: "Send a message and get its turn's result",
      description:
        "Answers when the turn has ended. `POST …/messages/stream` (or this route with `Accept: text/event-stream`) streams the turn's events instead.",
      ...sending,
      responses: { 200: json(TurnResult, "The turn's result"), ...sendingErrors },
    }),
    // Asked for a stream by `Accept`, it answers as …/messages/stream does: the spec describes that
    // there, so that a generated client types this route's answer as the TurnResult alone.
    (c) =>
      send(c, c.req.header("accept")?.includes("text/event-stream") ?? false) as Promise<never>,
  );

  routes.openapi(
    createRoute({
      method: "post",
      path: "/{id}/messages/stream",
      operationId: "streamMessage",
      summary: "Send a message and watch its turn",
      description:
        "The turn's events, from its `turn_started` to its `turn_finished` or `turn_failed`.",
      ...sending,
      responses: { 200: EVENTS, ...sendingErrors },
    }),
    (c) => send(c, true),
  );

  routes.openapi(
    createRoute({
      method: "get",
      path: "/{id}/events",
      operationId: "streamEvents",
      summary: "Watch every event of the conversation",
      description:
        "Send `Last-Event-ID` to get what came after that event first (`0` for everything journaled).",
      middleware: [found] as const,
      request: { params: ConversationParams },
      responses: {
        200: EVENTS,
        ...errors({ 400: "A bad Last-Event-ID", 404: "No such conversation" }),
      },
    }),
    (c) => {
      const last = c.req.header("last-event-id");
      if (last !== undefined && !/^\d{1,15}$/.test(last)) {
        return apiError(
          c,
          400,
          "invalid_request",
          "Last-Event-ID must be the id of an event sent.",
        );
      }
      const slot = streams.take();
      if (!slot) return tooManyStreams(c, streams);
      return streamEvents(c, c.get("conversation"), {
        shutdown,
        after: last === undefined ? undefined : Number(last),
        onEnd: slot,
      });
    },
  );

  routes.openapi(
    createRoute({
      method: "post",
      path: "/{id}/cancel",
      operationId: "cancelTurn",
      summary: "Cancel the running turn",
      middleware: [found] as const,
      request: { params: ConversationParams },
      responses: {
        200: json(z.object({ cancelled: z.boolean() }), "Whether a turn was running"),
        ...errors({ 404: "No such conversation" }),
      },
    }),
    async (c) => c.json({ cancelled: await c.get("conversation").cancelAnywhere() }, 200),
  );

  routes.openapi(
    createRoute({
      method: "post",
      path: "/{id}/calls/{callId}/approval",
      operationId: "decideApproval",
      summary: "Approve or deny a call that awaits approval",
      middleware: [found, requireJson] as const,
      request: { params: CallParams, body: { ...json(Approval, "The decision"), required: true } },
      responses: {
        200: json(z.object({ callId: z.string(), approved: z.boolean() }), "Decided"),
        ...errors({
          400: "A bad body",
          404: "No such conversation or call",
          409: "Decided already, or its tool needs no approval",
        }),
      },
    }),
    async (c) => {
      const conversation = c.get("conversation");
      const { callId } = c.req.valid("param");
      const decision = c.req.valid("json");
      const decided = await conversation.decide(callId, decision);
      if (decided === "unknown") {
        return apiError(
          c,
          404,
          "not_found",
          `Conversation ${conversation.id} has no call ${callId}.`,
        );
      }
      if (decided === "not_awaiting") {
        return apiError(
          c,
          409,
          "not_awaiting_approval",
          `Call ${callId} is not awaiting approval: it was decided already, or its tool needs none.`,
        );
      }
      return c.json({ callId, approved: decision.approved }, 200);
    },
  );

  return routes;
}

type SendContext = Context<Env, string, { out: { json: { content: string | unknown[] } } }>;

/**
 * The handler of both message routes: the turn's result as JSON, or
 * (`streamed`) its events as they happen.
 */
function sendMessage(streams: StreamSlots, shutdown: AbortSignal) {
  return async (c: SendContext, streamed: boolean) => {
    const conversation = c.get("conversation");
    // Subscribed before the message is queued, so the stream has its turn from the start (and
    // only then: a conversation nobody watches gets the model's answer unstreamed, for less CPU).
    const slot = streamed ? streams.take() : undefined;
    if (streamed && !slot) return tooManyStreams(c, streams);
    const events = streamed ? replayable(conversation) : undefined;
    const { content } = c.req.valid("json");
    const submission = typeof content === "string"
      ? await conversation.submit(content)
      : await conversation.submit(
        textOfBlocks(content as UserBlock[]),
        undefined,
        content as UserBlock[],
      );
    const busy = () =>
      apiError(
        c,
        409,
        "conversation_busy",
        `Conversation ${conversation.id} is being driven by another process; try again when its turn has ended.`,
      );
    if (!submission.accepted) {
      events?.stop();
      slot?.();
      return busy();
    }
    if (!events) {
      const result = await submission.result;
      return result ? c.json({ conversationId: conversation.id, ...result }, 200) : busy();
    }
    let inTurn = false;
    return streamEvents(c, events, {
      shutdown,
      onEnd: slot,
      filter: (event) =>
        inTurn ||= event.type === "turn_started" && event.messageId === submission.messageId,
      until: (event) => event.type === "turn_finished" || event.type === "turn_failed",
    });
  };
}

/** Finds the path's conversation (404 if there is none) for the handler. */
function findConversation(system: AgentSystem): MiddlewareHandler<Env> {
  return async (c, next) => {
    const id = c.req.param("id") ?? "";
    const conversation = await system.get(id);
    if (!conversation) return apiError(c, 404, "not_found", `There is no conversation ${id}.`);
    c.set("conversation", conversation);
    await next();
  };
}

/** A full line of waiting tool calls means new turns would only wait longer: say so now. */
function refuseWhenSaturated(system: AgentSystem): MiddlewareHandler {
  return async (c, next) => {
    const { slots } = system.settings;
    if (!slots.full) return await next();
    return unavailable(
      c,
      "server_busy",
      `Every tool worker is busy and ${slots.queued} tool calls are waiting; send the message again later.`,
    );
  };
}

function describe(conversation: ConversationSupervisor) {
  return {
    id: conversation.id,
    model: conversation.modelName,
    tools: conversation.toolNames,
    status: conversation.status,
    usage: conversation.usage,
    cacheHitRate: cacheHitRate(conversation.usage) ?? null,
    metadata: conversation.metadata,
  };
}

function tooManyStreams(c: Context, streams: StreamSlots): Response {
  return unavailable(
    c,
    "too_many_streams",
    `${streams.max} event streams are open, the most this server keeps (AGENT_MAX_EVENT_STREAMS); close one or try again shortly.`,
  );
}
