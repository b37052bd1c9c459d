import { assertEquals } from "@std/assert";
import { Hono } from "hono";
import type { ConversationEvent } from "../src/events.ts";
import { streamEvents } from "../src/http/event_stream.ts";

Deno.test("a client that stops reading its event stream is dropped instead of growing the server's memory", async () => {
  const listeners = new Set<(event: ConversationEvent) => void>();
  const source = {
    subscribe(listener: (event: ConversationEvent) => void) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const app = new Hono().get("/events", (c) => streamEvents(c, source));
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    app.fetch,
  );
  const response = await fetch(`http://127.0.0.1:${server.addr.port}/events`);
  assertEquals(response.status, 200); // its body is never read
  const text = "p".repeat(500_000);
  let sent = 0;
  // Far more than the socket's buffers hold: the rest would pile up in the server.
  while (listeners.size > 0 && sent < 400) {
    for (const listener of listeners) {
      listener({
        type: "tool_call_progress",
        callId: "c",
        name: "flood",
        text,
        conversationId: "x",
        id: sent,
        at: 0,
      });
    }
    sent++;
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  assertEquals(listeners.size, 0, `still subscribed after ${sent} events of 500 kB`);
  await response.body?.cancel();
});
