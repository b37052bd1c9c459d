import { assert, assertEquals } from "@std/assert";
import { createConfig, lintFromString } from "@redocly/openapi-core";
import openapiTS, { astToString } from "openapi-typescript";
import { createApp } from "../src/http/app.ts";
import { detectPlatform } from "../src/platform.ts";
import { startFakeMessagesApi } from "./support/fake_messages_api.ts";
import { lastUserText, testSystem } from "./support/test_system.ts";
import { startTestServer } from "./support/test_server.ts";

async function appWith(token?: string) {
  const api = startFakeMessagesApi(() => ({ text: "Hi." }));
  const system = await testSystem(api);
  return {
    app: createApp({ system, platform: detectPlatform(), token }),
    async [Symbol.asyncDispose]() {
      await system[Symbol.asyncDispose]();
      await api[Symbol.asyncDispose]();
    },
  };
}

Deno.test("GET /openapi.json describes every route the app serves, in OpenAPI 3.1", async () => {
  await using test = await appWith();
  const response = await test.app.request("/openapi.json");
  assertEquals(response.status, 200);
  const spec = await response.json();
  assertEquals(spec.openapi, "3.1.0");
  const served = new Set(
    test.app.routes
      .filter((route) => route.method !== "ALL") // middleware
      .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`),
  );
  const described = Object.entries(spec.paths as Record<string, object>).flatMap(
    ([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
  );
  const missing = [...served].filter((route) =>
    route !== "GET /openapi.json" && !described.includes(route)
  );
  assertEquals(missing, []);
  assert(served.size >= 14, `the walk found the routes: ${[...served].join(", ")}`);
});

Deno.test("the spec's request schemas are the ones that validate: a required field in one is required by the other", async () => {
  await using test = await appWith();
  const spec = await (await test.app.request("/openapi.json")).json();
  const message = spec.paths["/v1/conversations/{id}/messages"].post;
  assertEquals(message.requestBody.required, true);
  const schema = message.requestBody.content["application/json"].schema;
  const resolved = schema.$ref ? spec.components.schemas[schema.$ref.split("/").at(-1)] : schema;
  assertEquals(resolved.required, ["content"]);
  // Text, or content blocks (images, documents).
  const branches = resolved.properties.content.anyOf as { type: string; maxLength?: number }[];
  assertEquals(branches.find((branch) => branch.type === "string")?.maxLength, 200_000);
  assertEquals(branches.some((branch) => branch.type === "array"), true);
  assertEquals(resolved.additionalProperties, false);
  const conversation = await (await test.app.request("/v1/conversations", {
    method: "POST",
  })).json();
  const refused = await test.app.request(`/v1/conversations/${conversation.id}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ content: "hi", extra: 1 }),
  });
  assertEquals(refused.status, 400);
  assertEquals((await refused.json()).error.type, "invalid_request");
});

Deno.test("with a token, the spec says the API needs it, and is itself readable without one", async () => {
  await using test = await appWith("s3cret");
  const response = await test.app.request("/openapi.json");
  assertEquals(response.status, 200);
  const spec = await response.json();
  assertEquals(spec.security, [{ apiToken: [] }]);
  assertEquals(spec.components.securitySchemes.apiToken.scheme, "bearer");
  assertEquals(spec.paths["/v1/tasks/{id}/result"].post.security, [{ taskSecret: [] }]);
});

Deno.test("the spec passes Redocly's recommended rules, with and without a token, and names every operation", async () => {
  const config = await createConfig({ extends: ["recommended"] });
  for (const token of [undefined, "s3cret"]) {
    await using test = await appWith(token);
    const source = await (await test.app.request("/openapi.json")).text();
    const problems = await lintFromString({ source, config });
    const said = problems.map((problem) =>
      `${problem.severity} ${problem.ruleId}: ${problem.message} (${problem.location[0]?.pointer})`
    );
    assertEquals(said, [], token ? "with a token" : "without one");
    const operations = Object.values(JSON.parse(source).paths as Record<string, object>)
      .flatMap((methods) => Object.values(methods) as { operationId?: string }[]);
    const ids = operations.map((operation) => operation.operationId);
    assert(ids.every(Boolean), "every operation has an operationId");
    assertEquals(new Set(ids).size, ids.length, "each its own");
  }
});

Deno.test("a client generated from the spec types the turn's result and each streamed event, and works", async () => {
  await using api = startFakeMessagesApi((request) =>
    lastUserText(request).includes("tool_result")
      ? { text: "It is noon." }
      : { toolCalls: [{ name: "current_time", input: {} }] }
  );
  await using system = await testSystem(api);
  await using server = startTestServer(system);
  const spec = await (await fetch(`${server.url}/openapi.json`)).json();
  const generated = astToString(await openapiTS(spec));
  assert(/export interface paths/.test(generated) && /export interface components/.test(generated));
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/api.d.ts`, generated);
    await Deno.copyFile(
      new URL("./fixtures/openapi_client/client.ts", import.meta.url),
      `${dir}/client.ts`,
    );
    const config = new URL("../deno.json", import.meta.url).pathname;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--check",
        "--allow-net",
        `--config=${config}`,
        "--no-lock",
        `${dir}/client.ts`,
        server.url,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(stderr);
    assertEquals(code, 0, said); // a type error in the client fails here
    const got = JSON.parse(new TextDecoder().decode(stdout));
    assertEquals(got.status, "completed");
    assertEquals(got.types[0], "turn_started");
    assertEquals(got.types.at(-1), "turn_finished");
    assertEquals(got.calls, ["current_time"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
