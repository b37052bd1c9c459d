/**
 * `/v1/conversations`: list, create, send messages (JSON or a live stream),
 * read history and status, watch events, cancel, approve or deny a call.
 *
 * @module
 */
import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import type { AgentSystem } from "../../actors/agent_system.ts";
import type { ConversationSupervisor } from "../../actors/supervisor/conversation_supervisor.ts";
import { ConfigError } from "../config_error.ts";
import { apiError, unavailable } from "./errors.ts";
import { replayable, streamEvents } from "./event_stream.ts";
import { jsonBody, query, requireJson } from "./validation.ts";

/** Longest message or system prompt accepted, in characters. */
const MAX_TEXT_CHARS = 200_000;

const newConversation = z.strictObject({
  system: z.string().max(MAX_TEXT_CHARS).optional(),
  model: z.string().min(1).max(200).optional(),
  tools: z.array(z.string().max(64)).max(256).optional(),
});

const newMessage = z.strictObject({
  content: z.string().min(1, "must not be empty").max(
    MAX_TEXT_CHARS,
    `must be at most ${MAX_TEXT_CHARS} characters`,
  ),
});

const listing = z.object({
  limit: z.coerce.number({ error: "must be a number" }).int("must be a whole number").min(
    1,
    "must be at least 1",
  ).max(200, "must be at most 200").default(50),
});

const approval = z.strictObject({
  approved: z.boolean({ error: "must be true or false" }),
  reason: z.string().max(2_000, "must be at most 2000 characters").optional(),
});

type Env = { Variables: { conversation: ConversationSupervisor } };

/**
 * The conversation routes of `system`.
 *
 * @example
 * ```ts ignore
 * app.route("/v1/conversations", conversationRoutes(system, shutdown.signal));
 * ```
 */
export function conversationRoutes(
  system: AgentSystem,
  shutdown: AbortSignal,
): Hono<Env> {
  const routes = new Hono<Env>();

  routes.get("/", query(listing), async (c) => {
    const conversations = await system.list(c.req.valid("query").limit);
    return c.json({
      conversations: conversations.map(({ id, createdAt, turnOpen, title }) => ({
        id,
        createdAt,
        state: turnOpen ? "running" : "idle",
        title,
      })),
    });
  });

  routes.post("/", requireJson, jsonBody(newConversation), async (c) => {
    const body = c.req.valid("json");
    try {
      const conversation = await system.createConversation({
        system: body.system,
        modelName: body.model,
        tools: body.tools,
      });
      return c.json(describe(conversation), 201);
    } catch (error) {
      if (error instanceof ConfigError) return apiError(c, 400, "invalid_request", error.message);
      throw error;
    }
  });

  const findConversation: MiddlewareHandler<Env> = async (c, next) => {
    const id = c.req.param("id") ?? "";
    const conversation = await system.get(id);
    if (!conversation) return apiError(c, 404, "not_found", `There is no conversation ${id}.`);
    c.set("conversation", conversation);
    await next();
  };
  routes.use("/:id", findConversation);
  routes.use("/:id/*", findConversation);

  routes.get("/:id", async (c) => {
    const conversation = c.get("conversation");
    await conversation.refresh();
    return c.json({ ...describe(conversation), history: conversation.history });
  });

  // A full line of waiting tool calls means new turns would only wait longer: say so now.
  const refuseWhenSaturated: MiddlewareHandler = async (c, next) => {
    const { slots } = system.settings;
    if (!slots.full) return await next();
    return unavailable(
      c,
      "server_busy",
      `Every tool worker is busy and ${slots.queued} tool calls are waiting; send the message again later.`,
    );
  };

  routes.post(
    "/:id/messages",
    refuseWhenSaturated,
    requireJson,
    jsonBody(newMessage),
    async (c) => {
      const conversation = c.get("conversation");
      // Subscribed before the message is queued, so the stream has its turn from the start.
      const events = replayable(conversation);
      const submission = await conversation.submit(c.req.valid("json").content);
      const busy = () =>
        apiError(
          c,
          409,
          "conversation_busy",
          `Conversation ${conversation.id} is being driven by another process; try again when its turn has ended.`,
        );
      if (!submission.accepted) {
        events.stop();
        return busy();
      }
      if (!c.req.header("accept")?.includes("text/event-stream")) {
        events.stop();
        const result = await submission.result;
        return result ? c.json({ conversationId: conversation.id, ...result }) : busy();
      }
      let inTurn = false;
      return streamEvents(c, events, {
        shutdown,
        filter: (event) =>
          inTurn ||= event.type === "turn_started" && event.messageId === submission.messageId,
        until: (event) => event.type === "turn_finished" || event.type === "turn_failed",
      });
    },
  );

  routes.get("/:id/events", (c) => {
    const last = c.req.header("last-event-id");
    if (last !== undefined && !/^\d{1,15}$/.test(last)) {
      return apiError(c, 400, "invalid_request", "Last-Event-ID must be the id of an event sent.");
    }
    return streamEvents(c, c.get("conversation"), {
      shutdown,
      after: last === undefined ? undefined : Number(last),
    });
  });

  routes.post("/:id/cancel", (c) => c.json({ cancelled: c.get("conversation").cancel() }));

  routes.post("/:id/calls/:callId/approval", requireJson, jsonBody(approval), async (c) => {
    const conversation = c.get("conversation");
    const callId = c.req.param("callId");
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
    return c.json({ callId, approved: decision.approved });
  });

  return routes;
}

function describe(conversation: ConversationSupervisor) {
  return {
    id: conversation.id,
    model: conversation.modelName,
    tools: conversation.toolNames,
    status: conversation.status,
    usage: conversation.usage,
  };
}
