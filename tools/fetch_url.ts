import { defineTool } from "../src/tool.ts";
import { allowList, checkDestination } from "./_destination.ts";

const MAX_CHARS = 100_000;
const MAX_REDIRECTS = 5;

/**
 * Fetches a public http(s) URL. Network access only: no files, and of the
 * environment only its allow-list. Loopback, private and link-local
 * addresses are refused, after DNS resolution and on every redirect.
 */
export default defineTool<{ url: string }>({
  name: "fetch_url",
  description:
    `Fetches a public http or https URL with GET (following up to ${MAX_REDIRECTS} redirects) and returns the status, content type and up to ${MAX_CHARS} characters of the body.`,
  inputSchema: {
    type: "object",
    properties: { url: { type: "string", description: "An absolute http:// or https:// URL." } },
    required: ["url"],
    additionalProperties: false,
  },
  permissions: { net: true, env: ["AGENT_FETCH_ALLOW"] },
  timeoutMs: 20_000,
  async run({ url }, { signal }) {
    const allow = allowList();
    let target = new URL(url);
    for (let redirects = 0;; redirects++) {
      if (target.protocol !== "http:" && target.protocol !== "https:") {
        throw new TypeError(`only http and https URLs can be fetched, not ${target.protocol}`);
      }
      await checkDestination(target, allow);
      const response = await fetch(target, { signal, redirect: "manual" });
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        if (redirects === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
        target = new URL(location, target);
        continue;
      }
      const body = await response.text();
      return {
        status: response.status,
        url: target.href,
        contentType: response.headers.get("content-type"),
        body: body.length > MAX_CHARS
          ? `${body.slice(0, MAX_CHARS)}\n[truncated at ${MAX_CHARS} characters]`
          : body,
      };
    }
  },
});
