/**
 * Request validation: JSON bodies and query strings checked with zod, answered with a 4xx
 * that names the field to fix.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { apiError } from "./errors.ts";

const TARGETS: Record<string, string> = {
  json: "request body",
  query: "query",
  param: "path",
  header: "headers",
};

/**
 * The routes' validation hook: a request that fails its schema gets a 400
 * that names each field to fix.
 *
 * @example
 * ```ts ignore
 * const routes = new OpenAPIHono({ defaultHook: validationHook });
 * ```
 */
export function validationHook(
  result: { success: true } | { success: false; error: { issues: Issue[] }; target: string },
  c: Context,
): Response | undefined {
  if (result.success) return;
  const where = TARGETS[result.target] ?? result.target;
  return apiError(c, 400, "invalid_request", `Invalid ${where}: ${problems(result.error)}.`);
}

type Issue = { path: PropertyKey[]; message: string; code?: string; errors?: Issue[][] };

/** What is wrong, field by field. */
function problems(error: { issues: readonly Issue[] }): string {
  return error.issues.flatMap(branchIssues).map((issue) => {
    const at = issue.path.length > 0 ? `${issue.path.map(String).join(".")}: ` : "";
    return `${at}${issue.message}`;
  }).join("; ");
}

/**
 * A value that matches no branch of a union (a message's `content`: text or
 * blocks) is told what is wrong with the branch of its own kind: the one
 * that got furthest into it, not "Invalid input".
 */
function branchIssues(issue: Issue): Issue[] {
  if (issue.code !== "invalid_union" || !issue.errors?.length) return [issue];
  const score = (issues: Issue[]) =>
    Math.max(...issues.map((each) => each.path.length)) * 2 +
    (issues.some((each) => each.path.length === 0 && each.code === "invalid_type") ? 0 : 1);
  const branch = issue.errors.reduce((best, next) => score(next) > score(best) ? next : best);
  return branch.flatMap(branchIssues).map((inner) => ({
    ...inner,
    path: [...issue.path, ...inner.path],
  }));
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
