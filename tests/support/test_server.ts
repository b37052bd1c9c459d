/**
 * The HTTP app on a real loopback port, over a test system.
 *
 * @module
 */
import { type AppOptions, createApp } from "../../src/http/app.ts";
import { detectPlatform } from "../../src/platform.ts";
import type { AgentSystem } from "../../actors/agent_system.ts";

/** A running app: its base URL; disposing it stops the server. */
export interface TestServer extends AsyncDisposable {
  url: string;
}

/** Serves `createApp` for `system` on 127.0.0.1 with a free port. */
export function startTestServer(
  system: AgentSystem,
  options: Partial<AppOptions> = {},
): TestServer {
  let url = "";
  const publicUrl = () => url || "http://localhost"; // until it listens
  const app = createApp({ system, platform: detectPlatform(), publicUrl, ...options });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** POSTs `body` as JSON to `url`. */
export function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

/** Reads a server-sent event stream into its events' JSON data. */
export async function readEvents(
  response: Response,
  stopAfter?: (event: { type: string }) => boolean,
) {
  const events: { type: string; id: number; [key: string]: unknown }[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame.split("\n").find((line) => line.startsWith("data:"));
      if (!data) continue;
      const event = JSON.parse(data.slice(5));
      events.push(event);
      if (stopAfter?.(event)) {
        await reader.cancel();
        return events;
      }
    }
  }
  return events;
}
