/**
 * `/v1/tasks`: a background task's state and result, and the door through
 * which an outside system delivers the result of work handed to it.
 *
 * @module
 */
import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import type { TaskBoard } from "../../actors/task_board.ts";
import { MAX_RESULT_BYTES } from "../limit_result.ts";
import { apiError } from "./errors.ts";
import { jsonBody, requireJson } from "./validation.ts";

const delivery = z.strictObject({
  content: z.string().max(MAX_RESULT_BYTES * 4, "must be at most 4 MiB of text"),
  isError: z.boolean().optional(),
});

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
export function taskRoutes(tasks: TaskBoard): Hono<Env> {
  const routes = new Hono<Env>();

  routes.get("/:id", async (c) => {
    const found = await tasks.get(c.req.param("id"));
    if (!found) return apiError(c, 404, "not_found", `There is no task ${c.req.param("id")}.`);
    return c.json(found);
  });

  routes.post("/:id/result", requireSecret, requireJson, jsonBody(delivery), async (c) => {
    const taskId = c.req.param("id");
    const { content, isError } = c.req.valid("json");
    switch (await tasks.deliver(taskId, c.get("secret"), content, isError ?? false)) {
      case "delivered":
        return c.json({ taskId, delivered: true });
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
  });

  return routes;
}
