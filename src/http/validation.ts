/**
 * Request validation: JSON bodies and query strings checked with zod, answered with a 4xx
 * that names the field to fix.
 *
 * @module
 */
import { zValidator } from "@hono/zod-validator";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { z } from "zod";
import { apiError } from "./errors.ts";

/**
 * Validates the JSON body against `schema`. A missing body counts as `{}`,
 * so that all-optional bodies may be left out.
 *
 * @example
 * ```ts ignore
 * app.post("/v1/things", jsonBody(z.object({ name: z.string() })), (c) => c.json(c.req.valid("json")));
 * ```
 */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return zValidator("json", schema, (result, c) => {
    if (result.success) return;
    return apiError(c, 400, "invalid_request", `Invalid request body: ${problems(result.error)}.`);
  });
}

/**
 * Validates the query string against `schema` (its values are strings:
 * coerce numbers in the schema).
 *
 * @example
 * ```ts ignore
 * app.get("/v1/things", query(z.object({ limit: z.coerce.number().optional() })), (c) => c.json(c.req.valid("query")));
 * ```
 */
export function query<T extends z.ZodType>(schema: T) {
  return zValidator("query", schema, (result, c) => {
    if (result.success) return;
    return apiError(c, 400, "invalid_request", `Invalid query: ${problems(result.error)}.`);
  });
}

/** What is wrong, field by field. */
function problems(error: { issues: readonly { path: PropertyKey[]; message: string }[] }): string {
  return error.issues.map((issue) => {
    const at = issue.path.length > 0 ? `${issue.path.map(String).join(".")}: ` : "";
    return `${at}${issue.message}`;
  }).join("; ");
}

/** Rejects a body that is not declared as JSON (415), before it is read. */
export const requireJson: MiddlewareHandler = async (c, next) => {
  const type = c.req.header("content-type");
  // Whether a body was sent at all, whatever its headers say about it.
  const hasBody = c.req.raw.body !== null && c.req.header("content-length") !== "0";
  if (hasBody && !/^application\/([\w.+-]+\+)?json\b/i.test(type ?? "")) {
    return apiError(
      c,
      415,
      "unsupported_media_type",
      `Send the body as JSON with "Content-Type: application/json".`,
    );
  }
  await next();
};

/** Rejects bodies over `maxBytes` (413), counting as they stream in. */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      apiError(
        c,
        413,
        "payload_too_large",
        `The request body is over the limit of ${maxBytes} bytes.`,
      ),
  });
}
