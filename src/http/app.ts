/**
 * The HTTP API: a small Hono app composed of middleware and route modules.
 *
 * @module
 */
import { mcpServerOf } from "../../actors/mcp/mcp_executor.ts";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { bearerAuth } from "hono/bearer-auth";
import { except } from "hono/combine";
import type { AgentSystem } from "../../actors/agent_system.ts";
import { priorityOf, retriesOf } from "../../actors/scheduler/call_policies.ts";
import { detectPlatform, type Platform } from "../platform.ts";
import { nameClientUrl } from "../tracing.ts";
import { conversationRoutes } from "./conversations.ts";
import { taskRoutes } from "./tasks.ts";
import { errorBody, notFound, onError, RETRY_AFTER_SECONDS, unavailable } from "./errors.ts";
import { limitBody } from "./validation.ts";
import { pageRoutes } from "./page.ts";
import { type AllowedHosts, guardHost } from "./host_guard.ts";
import { a2aRoutes } from "./a2a.ts";
import { errors, HOST_REFUSED, json } from "./schemas.ts";
import { StreamSlots } from "./event_stream.ts";
import config from "../../deno.json" with { type: "json" };

/** Largest message body by default: 20 MiB of attachments, as base64, and their JSON. */
const DEFAULT_MESSAGE_BYTES = 28 * 1024 * 1024;

/** Event streams open at once, by default. */
const DEFAULT_EVENT_STREAMS = 500;

/** What the app serves, and how it guards it. */
export interface AppOptions {
  system: AgentSystem;
  /** What this platform can do, as `/healthz` reports it. Default: {@linkcode detectPlatform}. */
  platform?: Platform;
  /** Required as `Authorization: Bearer <token>` on every `/v1` route when set. */
  token?: string;
  /**
   * The names served besides loopback ones (`AGENT_ALLOWED_HOSTS`); "any"
   * for every name. Default: "any" with a token, else loopback names only.
   */
  allowedHosts?: AllowedHosts;
  /**
   * Where clients reach this server (`AGENT_PUBLIC_URL`), as the agent card
   * announces it; never taken from a request. Default `http://localhost`.
   */
  publicUrl?: () => string;
  /**
   * Event streams open at once (`AGENT_MAX_EVENT_STREAMS`); beyond it a new
   * one gets `503 too_many_streams`. Default 500.
   */
  maxEventStreams?: number;
  /** How long a blocking A2A `SendMessage` waits for its task to end (`AGENT_A2A_WAIT_MS`). */
  a2aWaitMs?: number;
  /** Largest accepted request body. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Largest accepted message body, with its attachments (`AGENT_MAX_MESSAGE_BYTES`). Default 28 MiB. */
  maxMessageBytes?: number;
  /**
   * Aborted when the server starts shutting down: event streams end with a
   * final `server_shutdown` event, and new requests are answered 503.
   */
  shutdown?: AbortSignal;
}

/**
 * Builds the HTTP API (REST, events, the page, A2A, OpenAPI) of an agent
 * system; serve it with `Deno.serve(app.fetch)`. This is what a Deno Deploy
 * entry of your own serves, with the tools and MCP servers you give the system.
 *
 * @example
 * ```ts
 * import { createAgentSystem, OfflineModel } from "../../mod.ts";
 * import { createApp } from "./app.ts";
 * import { assertEquals } from "@std/assert";
 * await using system = await createAgentSystem({ model: new OfflineModel() });
 * const app = createApp({ system, token: "s3cret" });
 * assertEquals((await app.request("http://localhost/v1/tools")).status, 401);
 * assertEquals((await app.request("http://localhost/healthz")).status, 200);
 * ```
 */
export function createApp(options: AppOptions): OpenAPIHono {
  const { system } = options;
  const platform = options.platform ?? detectPlatform();
  const shutdown = options.shutdown ?? new AbortController().signal;
  const app = new OpenAPIHono();
  app.notFound(notFound);
  app.onError(onError);
  app.use(guardHost(options.allowedHosts ?? (options.token ? "any" : [])));
  app.use(async (c, next) => {
    nameClientUrl(c.req.raw);
    await next();
  });
  app.use(async (c, next) => {
    if (!shutdown.aborted) return await next();
    c.header("Connection", "close");
    return unavailable(c, "shutting_down", "The server is shutting down; try again shortly.");
  });

  app.route("/", pageRoutes());
  app.openapi(HEALTH, (c) => {
    const journal = system.health;
    if (!journal.ok) c.header("Retry-After", String(RETRY_AFTER_SECONDS));
    return c.json({
      ok: journal.ok,
      version: config.version,
      journal,
      capabilities: { ...platform, tools: system.settings.catalog.names.length },
      workers: {
        live: system.settings.slots.live,
        max: system.settings.slots.max,
        queued: system.settings.slots.queued,
      },
      breakers: system.settings.policies.breakers.tripped(),
    }, journal.ok ? 200 : 503);
  });

  if (options.token) {
    const error = (message: string) => errorBody("authentication_error", message);
    const auth = bearerAuth({
      token: options.token,
      noAuthenticationHeader: { message: error('Send "Authorization: Bearer <token>".') },
      invalidAuthenticationHeader: {
        message: error('The Authorization header must be "Bearer <token>".'),
      },
      invalidToken: { message: error("The token is not valid.") },
    });
    // A task's result is posted with the task's own secret instead.
    app.use("/v1/*", except("/v1/tasks/:id/result", auth));
    app.use("/a2a", auth);
  }
  const limit = limitBody(options.maxBodyBytes ?? 1024 * 1024);
  // A message may carry images and documents: base64 of up to 20 MiB of them.
  const MESSAGES = "/v1/conversations/:id/messages";
  app.use("/v1/*", except(MESSAGES, limit));
  app.use(MESSAGES, limitBody(options.maxMessageBytes ?? DEFAULT_MESSAGE_BYTES));
  app.use("/a2a", limit);

  app.openapi(TOOLS, (c) =>
    c.json({
      tools: system.settings.catalog.list().map((tool) => ({
        name: tool.name,
        description: tool.description,
        inputSchema: tool.inputSchema,
        source: sourceOf(tool.moduleUrl),
        ...(tool.mcp ?? {}),
        permissions: tool.permissions,
        timeoutMs: tool.timeoutMs ?? system.settings.defaultTimeoutMs,
        policies: {
          idempotent: tool.idempotent ?? false,
          retries: retriesOf(tool, system.settings.policies.retry),
          maxConcurrent: tool.maxConcurrent ?? null,
          perSecond: tool.perSecond ?? null,
          critical: tool.critical ?? false,
          needsApproval: tool.needsApproval ?? false,
          priority: priorityOf(tool),
          reuse: tool.reuse ?? null,
          concurrency: tool.concurrency ?? 1,
          breaker: tool.breaker === false
            ? null
            : system.settings.policies.breakers.state(tool.name),
        },
      })).concat((system.settings.serverTools ?? []).map(({ type, name, ...options }) =>
        ({
          name,
          description:
            `Anthropic's ${name} server tool: it runs at Anthropic, not in a worker here.`,
          source: { type: "anthropic", tool: type },
          options,
        }) as never
      )),
    }, 200));
  const streams = new StreamSlots(options.maxEventStreams ?? DEFAULT_EVENT_STREAMS);
  app.route("/v1/conversations", conversationRoutes(system, shutdown, streams));
  app.route("/v1/tasks", taskRoutes(system.tasks));
  app.route(
    "/",
    a2aRoutes(system, {
      token: options.token,
      publicUrl: options.publicUrl ?? (() => "http://localhost"),
      waitMs: options.a2aWaitMs,
    }),
  );
  describeApi(app, Boolean(options.token));
  return app;
}

const HEALTH = createRoute({
  method: "get",
  path: "/healthz",
  operationId: "getHealth",
  summary: "Whether the server can take work: its journal, workers and circuit breakers",
  security: [], // public, with a token too
  responses: {
    200: json(z.looseObject({ ok: z.boolean() }), "Healthy"),
    ...errors({ 403: HOST_REFUSED }),
    503: json(z.looseObject({ ok: z.boolean() }), "The journal does not take writes"),
  },
});

const TOOLS = createRoute({
  method: "get",
  path: "/v1/tools",
  operationId: "listTools",
  summary: "The tools, with their schemas, permissions and policies",
  responses: {
    200: json(z.object({ tools: z.array(z.looseObject({ name: z.string() })) }), "The tools"),
    ...errors({
      401: "The token is missing or wrong (when the server has one)",
      403: HOST_REFUSED,
    }),
  },
});

/** `GET /openapi.json`: this API in OpenAPI 3.1, from the schemas that validate its requests. */
function describeApi(app: OpenAPIHono, tokenRequired: boolean): void {
  const registry = app.openAPIRegistry;
  // Defined only where used: a scheme no operation names is an error to OpenAPI linters.
  if (tokenRequired) {
    registry.registerComponent("securitySchemes", "apiToken", {
      type: "http",
      scheme: "bearer",
      description: "AGENT_API_TOKEN, required on /v1 when the server has one.",
    });
  }
  registry.registerComponent("securitySchemes", "taskSecret", {
    type: "http",
    scheme: "bearer",
    description: "The secret a handed-off task was given.",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "agent-runtime",
      version: config.version,
      description: "Conversations with Claude whose tool calls run isolated and in parallel.",
      license: { name: "MIT", url: "https://opensource.org/license/mit" },
    },
    // Relative: the server that serves this document, whatever address it was reached at.
    servers: [{ url: "/", description: "This server" }],
    security: tokenRequired ? [{ apiToken: [] }] : [],
  });
}

/** Where a tool comes from, as `GET /v1/tools` says it. */
function sourceOf(moduleUrl: string) {
  const server = mcpServerOf(moduleUrl);
  return server ? { type: "mcp", server } : { type: "module", url: moduleUrl };
}
