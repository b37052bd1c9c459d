/**
 * The command line and environment of a tool host process.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { PERMISSION_NAMES, type ToolPermissions } from "../../src/tool.ts";
import { toolImportMap } from "./_tool_import_map.ts";

/** What the hosts of one group of tools are started with. */
export interface HostProfile {
  /** The union of the permissions of the tools the host runs. */
  permissions: ToolPermissions;
  /** The V8 heap limit of every isolate in the host, i.e. of every call. */
  memoryMb: number;
  /** The folders the host must read to load its tools' modules. */
  moduleDirs: string[];
}

const HOST_MAIN = new URL("./host_main.ts", import.meta.url);
const CONFIG = new URL("../../deno.json", import.meta.url);
/** The runtime's own code that tool workers load: the worker entry and what it imports. */
export const RUNTIME_MODULE_DIRS: readonly string[] = ["../tool_worker/", "../../src/"]
  .map((path) => fromFileUrl(new URL(path, import.meta.url)));
/** Never passed to a host, even to a tool declaring `env: true`. */
const SECRETS = ["ANTHROPIC_API_KEY", "AGENT_API_TOKEN"];
/** What Deno itself needs to find its module cache and the tools' commands. */
const BASE_ENV = ["DENO_DIR", "HOME", "XDG_CACHE_HOME", "PATH"];

/**
 * How to start a host for `profile` that connects to `socketPath`: `deno
 * run` of the host's module, or, in a compiled binary, the binary itself
 * with the `tool-host` subcommand (its permissions are the binary's, fixed
 * at compile time; each worker still gets only its tool's).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { hostCommand } from "./_host_command.ts";
 * const { args } = hostCommand({ permissions: {}, memoryMb: 128, moduleDirs: [] }, "/tmp/h.sock");
 * assertEquals(args.includes("--allow-net"), false);
 * ```
 */
export function hostCommand(
  profile: HostProfile,
  socketPath: string,
  execPath: string = Deno.execPath(),
  env: Pick<Deno.Env, "get" | "toObject"> = Deno.env,
): { command: string; args: string[]; env: Record<string, string> } {
  const compiled = !/(^|[\\/])deno(\.exe)?$/.test(execPath);
  const imports = CONFIG.protocol === "file:" ? toolImportMap(profile.moduleDirs) : undefined;
  // A tool of a project of its own may import the project's other files.
  const projectDirs = Object.keys(imports?.scopes ?? {}).map((url) => fromFileUrl(url));
  const args = compiled ? ["tool-host", socketPath] : [
    "run",
    "--quiet",
    "--no-prompt",
    "--unstable-worker-options",
    ...(CONFIG.protocol === "file:" ? [`--config=${fromFileUrl(CONFIG)}`] : []),
    // A tool's imports must never be written into the runtime's lock file.
    "--no-lock",
    ...(imports ? [`--import-map=${writtenMap(imports)}`] : []),
    ...permissionFlags(profile, socketPath, projectDirs),
    HOST_MAIN.protocol === "file:" ? fromFileUrl(HOST_MAIN) : HOST_MAIN.href,
    socketPath,
  ];
  return { command: execPath, args, env: hostEnv(profile, env) };
}

/** Import maps written for hosts, by their content: one file for hosts that share one. */
const writtenMaps = new Map<string, string>();

/** The file `map` is written to, for `--import-map`: one for the hosts that share it. */
function writtenMap(map: object): string {
  const json = JSON.stringify(map);
  let path = writtenMaps.get(json);
  if (!path) {
    path = Deno.makeTempFileSync({ prefix: "agent-tool-imports-", suffix: ".json" });
    Deno.writeTextFileSync(path, json);
    if (writtenMaps.size === 0) globalThis.addEventListener("unload", removeWrittenMaps);
    writtenMaps.set(json, path);
  }
  return path;
}

function removeWrittenMaps(): void {
  for (const path of writtenMaps.values()) {
    try {
      Deno.removeSync(path);
    } catch { /* gone already */ }
  }
  writtenMaps.clear();
}

function permissionFlags(
  { permissions, moduleDirs }: HostProfile,
  socketPath: string,
  projectDirs: string[],
): string[] {
  const extra: Partial<Record<keyof ToolPermissions, string[]>> = {
    // Connecting to a Unix socket takes read, write and net access to its path.
    read: [...RUNTIME_MODULE_DIRS, ...moduleDirs, ...projectDirs, socketPath],
    write: [socketPath],
    net: [`unix:${socketPath}`],
  };
  return PERMISSION_NAMES.flatMap((name) => {
    const grant = permissions[name];
    if (grant === true) return [`--allow-${name}`];
    const list = [...(grant || []), ...(extra[name] ?? [])];
    return list.length > 0 ? [`--allow-${name}=${list.join(",")}`] : [];
  });
}

function hostEnv(
  { permissions, memoryMb }: HostProfile,
  env: Pick<Deno.Env, "get" | "toObject">,
): Record<string, string> {
  const names = permissions.env === true
    ? Object.keys(env.toObject())
    : [...BASE_ENV, ...(permissions.env || [])];
  const passed: Record<string, string> = {};
  for (const name of names) {
    const value = env.get(name);
    if (value !== undefined && !SECRETS.includes(name)) passed[name] = value;
  }
  return { ...passed, NO_COLOR: "1", DENO_V8_FLAGS: `--max-old-space-size=${memoryMb}` };
}
