/**
 * `/v1/tasks`: a background task's state and result, and the door through
 * which an outside system delivers the result of work handed to it.
 *
 * @module
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { TaskBoard } from "../../actors/task_board.ts";
import { apiError } from "./errors.ts";
import { errors, json, TaskDelivery, TaskParams } from "./schemas.ts";
import { requireJson, validationHook } from "./validation.ts";

type Env = { Variables: { secret: string } };

/** Takes the secret from `Authorization: Bearer <secret>`, before the body is read. */
const requireSecret: MiddlewareHandler<Env> = async (c, next) => {
  const secret = /^Bearer (.+)$/.exec(c.req.header("authorization") ?? "")?.[1];
  if (!secret) {
    return apiError(
      c,
      401,
      "authentication_error",
      'Send the task\'s secret as "Authorization: Bearer <secret>".',
    );
  }
  c.set("secret", secret);
  await next();
};

/**
 * The task routes. `POST /:id/result` is authenticated by the task's own
 * secret (`Authorization: Bearer <secret>`), not by the API token, so the
 * outside system never holds more than the right to finish that one task.
 *
 * @example
 * ```ts ignore
 * app.route("/v1/tasks", taskRoutes(system.tasks));
 * ```
 */
export function taskRoutes(tasks: TaskBoard): OpenAPIHono<Env> {
  const routes = new OpenAPIHono<Env>({ defaultHook: validationHook });

  routes.openapi(
    createRoute({
      method: "get",
      path: "/{id}",
      operationId: "getTask",
      summary: "A background task: its state, and its result once it has one",
      request: { params: TaskParams },
      responses: {
        200: json(z.looseObject({ task: z.looseObject({ taskId: z.string() }) }), "The task"),
        ...errors({ 404: "No such task" }),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const found = await tasks.get(id);
      if (!found) return apiError(c, 404, "not_found", `There is no task ${id}.`);
      return c.json(found, 200);
    },
  );

  routes.openapi(
    createRoute({
      method: "post",
      path: "/{id}/result",
      operationId: "postTaskResult",
      summary: "Deliver the result of a task handed to an outside system",
      description: "Authenticated by the task's own secret, not by the API token.",
      security: [{ taskSecret: [] }],
      middleware: [requireSecret, requireJson] as const,
      request: {
        params: TaskParams,
        body: { ...json(TaskDelivery, "The result"), required: true },
      },
      responses: {
        200: json(z.object({ taskId: z.string(), delivered: z.boolean() }), "Delivered"),
        ...errors({
          400: "A bad body",
          401: "No secret",
          403: "Not this task's secret",
          404: "No such handed-off task",
          409: "Delivered already",
        }),
      },
    }),
    async (c) => {
      const { id: taskId } = c.req.valid("param");
      const { content, isError } = c.req.valid("json");
      switch (await tasks.deliver(taskId, c.get("secret"), content, isError ?? false)) {
        case "delivered":
          return c.json({ taskId, delivered: true }, 200);
        case "not_found":
          return apiError(c, 404, "not_found", `There is no handed-off task ${taskId}.`);
        case "forbidden":
          return apiError(c, 403, "forbidden", `The secret is not the one of task ${taskId}.`);
        case "conflict":
          return apiError(
            c,
            409,
            "already_delivered",
            `Task ${taskId} has its result already; this delivery changed nothing.`,
          );
      }
    },
  );

  return routes;
}
