import { assertEquals } from "@std/assert";
import { Hono } from "hono";
import { type AllowedHosts, guardHost } from "./host_guard.ts";

function guarded(allowedHosts: AllowedHosts) {
  const app = new Hono();
  app.use(guardHost(allowedHosts));
  app.all("*", (c) => c.text("served"));
  return async (headers: Record<string, string>, method = "GET") => {
    const response = await app.request("http://localhost/v1/x", { method, headers });
    const body = response.status === 200 ? await response.text() : (await response.json()).error;
    return response.status === 200 ? body : `${response.status} ${body.type}`;
  };
}

Deno.test("a loopback-only server answers for loopback names and refuses a rebound name", async () => {
  const ask = guarded([]);
  for (const host of ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST", "127.1.2.3"]) {
    assertEquals(await ask({ host }), "served", host);
  }
  for (
    const host of ["attacker.example:8000", "127.0.0.1.nip.io:8000", "localhost.attacker.example"]
  ) {
    assertEquals(await ask({ host }), "403 forbidden_host", host);
  }
});

Deno.test("a browser Origin other than the server's own is refused; its own page is served", async () => {
  const ask = guarded([]);
  const host = "127.0.0.1:8000";
  assertEquals(await ask({ host, origin: "http://127.0.0.1:8000" }, "POST"), "served");
  for (
    const origin of [
      "http://attacker.example:8000",
      "http://127.0.0.1:3000",
      "null",
      "file://",
    ]
  ) {
    assertEquals(await ask({ host, origin }, "POST"), "403 forbidden_origin", origin);
  }
  // The DNS-rebinding request: a foreign Host with its matching Origin.
  assertEquals(
    await ask({ host: "attacker.example:8000", origin: "http://attacker.example:8000" }, "POST"),
    "403 forbidden_host",
  );
});

Deno.test("names listed by the operator are served, with their pages; any name with 'any'", async () => {
  const ask = guarded(["agent.example.com"]);
  assertEquals(await ask({ host: "agent.example.com" }), "served");
  assertEquals(await ask({ host: "Agent.Example.com:443" }), "served");
  // Behind a proxy that rewrites Host, the page's origin is the public name.
  assertEquals(
    await ask({ host: "127.0.0.1:8000", origin: "https://agent.example.com" }, "POST"),
    "served",
  );
  assertEquals(await ask({ host: "other.example.com" }), "403 forbidden_host");
  assertEquals(await guarded("any")({ host: "other.example.com" }), "served");
});
