/**
 * The web page: a live view of conversations and their tool calls, served
 * from the files in `./page/` as they are (no build step, nothing from
 * elsewhere). The files are public; everything they show comes from the
 * `/v1` API, which asks for the token when one is set.
 *
 * @module
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import config from "../../deno.json" with { type: "json" };
import { notFound } from "./errors.ts";
import { errors, HOST_REFUSED } from "./schemas.ts";

const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "api.js": "text/javascript; charset=utf-8",
  "conversation.js": "text/javascript; charset=utf-8",
  "dom.js": "text/javascript; charset=utf-8",
  "timeline.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

/** The page may load and reach only this server. */
const POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * `GET /` (the page for a browser, the API's name for anything else) and
 * `GET /page/<file>`.
 *
 * @example
 * ```ts ignore
 * app.route("/", pageRoutes());
 * ```
 */
export function pageRoutes(): OpenAPIHono {
  const routes = new OpenAPIHono();
  routes.openapi(
    createRoute({
      method: "get",
      path: "/",
      operationId: "getPage",
      summary: "The web page (for a browser), or the API's name",
      security: [], // public, with a token too
      responses: {
        ...errors({ 403: HOST_REFUSED }),
        200: {
          description: "HTML for `Accept: text/html`, else JSON",
          content: {
            "text/html": { schema: z.string() },
            "application/json": {
              schema: z.object({ name: z.string(), version: z.string(), api: z.string() }),
            },
          },
        },
      },
    }),
    (c) => {
      if (c.req.header("accept")?.includes("text/html")) return servePageFile("index.html");
      return c.json({
        name: "agent-runtime",
        version: config.version,
        api: "/v1",
        health: "/healthz",
      });
    },
  );
  routes.openapi(
    createRoute({
      method: "get",
      path: "/page/{file}",
      operationId: "getPageFile",
      summary: "The web page's scripts and style",
      security: [],
      request: { params: z.object({ file: z.string() }) },
      responses: {
        200: { description: "The file", content: { "text/javascript": { schema: z.string() } } },
        404: { description: "No such file" },
      },
    }),
    (c) => {
      const { file } = c.req.valid("param");
      return Object.hasOwn(FILES, file) ? servePageFile(file) : notFound(c);
    },
  );
  return routes;
}

async function servePageFile(file: string): Promise<Response> {
  const body = await readPageFile(new URL(`./page/${file}`, import.meta.url));
  return new Response(body, {
    headers: {
      "content-type": FILES[file],
      "content-security-policy": POLICY,
      "x-content-type-options": "nosniff",
      "cache-control": "no-cache",
    },
  });
}

/** From disk (or a compiled binary's embedded files), or from the web where the package came from. */
async function readPageFile(url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (url.protocol === "file:") return await Deno.readFile(url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`The page's ${url.pathname} is missing (${response.status}).`);
  return new Uint8Array(await response.arrayBuffer());
}
