import { defineTool } from "../src/tool.ts";

const MAX_CHARS = 100_000;

/** Fetches an http(s) URL. Network access only: no files, no environment. */
export default defineTool<{ url: string }>({
  name: "fetch_url",
  description:
    `Fetches an http or https URL with GET and returns the status, content type and up to ${MAX_CHARS} characters of the body.`,
  inputSchema: {
    type: "object",
    properties: { url: { type: "string", description: "An absolute http:// or https:// URL." } },
    required: ["url"],
    additionalProperties: false,
  },
  permissions: { net: true },
  timeoutMs: 20_000,
  async run({ url }, { signal }) {
    const target = new URL(url);
    if (target.protocol !== "http:" && target.protocol !== "https:") {
      throw new TypeError(`only http and https URLs can be fetched, not ${target.protocol}`);
    }
    const response = await fetch(target, { signal, redirect: "follow" });
    const body = await response.text();
    return {
      status: response.status,
      contentType: response.headers.get("content-type"),
      body: body.length > MAX_CHARS
        ? `${body.slice(0, MAX_CHARS)}\n[truncated at ${MAX_CHARS} characters]`
        : body,
    };
  },
});
