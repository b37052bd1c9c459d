/**
 * A throw-away PostgreSQL cluster for the tests: Debian's `initdb` and
 * `pg_ctl` (`.ci/run` installs the `postgresql` package when they are
 * missing), run as the `postgres` user when the tests run as root, on a
 * free loopback port, its socket and data in a temporary folder. Nothing
 * the tests did not start is used. One cluster serves every test of a file;
 * each test takes a database of its own.
 *
 * @module
 */

const BIN_ROOT = "/usr/lib/postgresql";

/** A running cluster: `database()` makes a fresh database and answers its address. */
export interface TestPostgres extends AsyncDisposable {
  /** The address of a new, empty database (`postgres://postgres:…@127.0.0.1:PORT/NAME`). */
  database(): Promise<string>;
  /** Stops the server abruptly (as a crash would) or cleanly, and starts it again. */
  restart(mode?: "immediate" | "fast"): Promise<void>;
  stop(mode?: "immediate" | "fast"): Promise<void>;
  start(): Promise<void>;
  port: number;
}

/** The folder of Debian's PostgreSQL programs, newest version first. */
function binaries(): string {
  let versions: string[] = [];
  try {
    versions = [...Deno.readDirSync(BIN_ROOT)].map((entry) => entry.name)
      .filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a));
  } catch { /* not installed */ }
  if (versions.length === 0) {
    throw new Error(
      `These tests start their own PostgreSQL and found none under ${BIN_ROOT}: install Debian's postgresql (apt-get install -y postgresql), as .ci/run does.`,
    );
  }
  return `${BIN_ROOT}/${versions[0]}/bin`;
}

const asRoot = Deno.uid() === 0;

async function run(program: string, args: string[]): Promise<string> {
  const [command, commandArgs] = asRoot
    ? ["runuser", ["-u", "postgres", "--", program, ...args]]
    : [program, args];
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args: commandArgs,
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C" },
  }).output();
  const said = new TextDecoder().decode(stderr) + new TextDecoder().decode(stdout);
  if (code !== 0) throw new Error(`${program} ${args.join(" ")} failed (${code}): ${said}`);
  return said;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/**
 * Starts a cluster of its own; dispose of it to stop it and remove its
 * files. Tests run it without `fsync` (nothing in it must survive a power
 * cut); `durable` keeps `fsync` on, as a bench measuring writes needs.
 */
export async function startTestPostgres(
  { durable = false }: { durable?: boolean } = {},
): Promise<TestPostgres> {
  const bin = binaries();
  const dir = await Deno.makeTempDir({ prefix: "agent-pg-" });
  if (asRoot) {
    const { uid, gid } = postgresUser();
    await Deno.chown(dir, uid, gid);
  }
  const data = `${dir}/data`;
  await run(`${bin}/initdb`, ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
  const port = freePort();
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    ...(durable ? [] : ["-c fsync=off"]),
    "-c max_connections=200",
  ].join(" ");
  const start = () =>
    run(`${bin}/pg_ctl`, ["-D", data, "-o", options, "-l", `${dir}/log`, "-w", "start"]);
  const stop = (mode: "immediate" | "fast" = "fast") =>
    run(`${bin}/pg_ctl`, ["-D", data, "-m", mode, "-w", "stop"]);
  await start();
  let databases = 0;
  const address = (name: string) => `postgres://postgres:secret@127.0.0.1:${port}/${name}`;
  return {
    port,
    async database() {
      const name = `test_${++databases}_${crypto.randomUUID().slice(0, 8)}`;
      await run(`${bin}/psql`, [
        "-h",
        dir,
        "-p",
        String(port),
        "-U",
        "postgres",
        "-c",
        `create database ${name}`,
      ]);
      return address(name);
    },
    start: async () => void await start(),
    stop: async (mode) => void await stop(mode),
    async restart(mode = "fast") {
      await stop(mode);
      await start();
    },
    async [Symbol.asyncDispose]() {
      await stop("immediate").catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function postgresUser(): { uid: number; gid: number } {
  const line = Deno.readTextFileSync("/etc/passwd").split("\n")
    .find((entry) => entry.startsWith("postgres:"));
  if (!line) throw new Error("No postgres user: install Debian's postgresql, as .ci/run does.");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** A server's environment: the fake Messages API at `apiUrl`, the journal at `database`. */
export function serverEnv(apiUrl: string, database: string, extra: Record<string, string> = {}) {
  return {
    ANTHROPIC_API_KEY: "sk-ant-test",
    ANTHROPIC_BASE_URL: apiUrl,
    AGENT_DATA: database,
    ...extra,
  };
}
