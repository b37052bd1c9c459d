/**
 * Every error the API answers has one shape, `{error: {type, message}}`,
 * with a message that says what to fix.
 *
 * @module
 */
import type { Context, TypedResponse } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { JournalUnavailable } from "../journal/storage_errors.ts";

/** What a client is told to wait before it tries again after a 503. */
export const RETRY_AFTER_SECONDS = 5;

/** The error body of every failed request. */
export interface ApiErrorBody {
  error: { type: string; message: string };
}

/**
 * A JSON error response.
 *
 * @example
 * ```ts ignore
 * app.get("/v1/conversations/:id", (c) => apiError(c, 404, "not_found", "No conversation abc."));
 * ```
 */
export function apiError<S extends ContentfulStatusCode>(
  c: Context,
  status: S,
  type: string,
  message: string,
): Response & TypedResponse<ApiErrorBody, S, "json"> {
  return c.json(errorBody(type, message), status);
}

/** The error body, for middleware that builds its own responses. */
export function errorBody(type: string, message: string): ApiErrorBody {
  return { error: { type, message } };
}

/**
 * A 503 with `Retry-After`: the request was not accepted, and may be sent
 * again later.
 */
export function unavailable(c: Context, type: string, message: string): Response {
  c.header("Retry-After", String(RETRY_AFTER_SECONDS));
  return apiError(c, 503, type, message);
}

/** For `app.notFound`: names the route that does not exist. */
export function notFound(c: Context): Response {
  return apiError(c, 404, "not_found", `There is no route ${c.req.method} ${c.req.path}.`);
}

/**
 * For `app.onError`: Hono's own 4xx (e.g. malformed JSON) keep their status;
 * a journal that cannot be written is a 503 with its reason; anything else
 * is a 500 without internals.
 */
export function onError(error: Error, c: Context): Response {
  if (error instanceof JournalUnavailable) {
    return unavailable(c, "journal_unavailable", `${error.message} Try again later.`);
  }
  // A middleware that built its own response (bearer auth: 401 with WWW-Authenticate) keeps it.
  if (error instanceof HTTPException && error.res) return error.getResponse();
  if (error instanceof HTTPException && error.status < 500) {
    const type = error.status === 400 ? "invalid_request" : "http_error";
    const message = error.message.endsWith(".") ? error.message : `${error.message}.`;
    return apiError(c, error.status, type, message);
  }
  console.error(`Internal error on ${c.req.method} ${c.req.path}:`, error);
  return apiError(
    c,
    500,
    "internal_error",
    "The server failed to handle this request; it has been logged.",
  );
}
