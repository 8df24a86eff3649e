/**
 * Following an app repository that asks for credentials, as an OpenShift replica with
 * `openshift_follow = true` does: the real server bundle, started with the environment the
 * Deployment sets (GIT_ASKPASS = the app's git-askpass.sh, RAAS_GIT_CREDENTIALS = the mounted
 * Secret's directory), follows a repository served over HTTP on loopback by git's own
 * `git http-backend`, behind Basic authentication. Proves that git gets the user and token from
 * the files (read at each check, so a rotated Secret works without a restart), and that the
 * token appears nowhere in registry.conf or the server's output.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../src/adapters/package-root.js";
import { renderTemplate } from "../../src/app/templates.js";
import { freePort } from "../helpers/free-port.js";

const USER = "raas-bot";
const TOKEN = "tok-4f1c2b9e-never-logged";

/** `git http-backend` as a CGI behind Basic authentication; records who asked. */
function gitHttpServer(root: string, seen: string[]): Server {
  return createServer((req, res) => {
    const header = req.headers.authorization ?? "";
    const given = header.startsWith("Basic ") ? Buffer.from(header.slice(6), "base64").toString() : "";
    seen.push(
      given === ""
        ? "(none)"
        : given.split(":")[0] === USER
          ? `${USER}:${given === `${USER}:${TOKEN}` ? "right" : "wrong"}`
          : "other",
    );
    if (given !== `${USER}:${TOKEN}`) {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="git"' }).end();
      return;
    }
    const url = new URL(req.url ?? "/", "http://x");
    const cgi = spawn("git", ["http-backend"], {
      env: {
        PATH: process.env.PATH ?? "",
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        REQUEST_METHOD: req.method ?? "GET",
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        HTTP_CONTENT_ENCODING: req.headers["content-encoding"] ?? "",
        HTTP_GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
        REMOTE_USER: USER,
        REMOTE_ADDR: "127.0.0.1",
      },
    });
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on("data", (c: Buffer) => chunks.push(c));
    cgi.on("close", () => {
      const out = Buffer.concat(chunks);
      const end = out.indexOf("\r\n\r\n");
      const head = out.subarray(0, end).toString("latin1").split("\r\n");
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
        else if (name !== "") headers[name] = value;
      }
      res.writeHead(status, headers).end(out.subarray(end + 4));
    });
  });
}

describe("following an app repository that asks for credentials (GIT_ASKPASS from the mounted Secret)", () => {
  let work: string;
  let http: Server;
  let registry: ChildProcess;
  let registryUrl: string;
  let output = "";
  const seen: string[] = [];
  const bare = () => join(work, "repos", "app.git");
  const head = () => execFileSync("git", ["--git-dir", bare(), "rev-parse", "main"]).toString().trim();
  const commit = (message: string) => {
    const dir = join(work, "edit");
    execFileSync("sh", ["-c", `echo '${message}' >> README.md`], { cwd: dir });
    execFileSync("git", ["-C", dir, "add", "--all"]);
    execFileSync("git", [
      "-C",
      dir,
      "-c",
      "user.name=t",
      "-c",
      "user.email=t@t",
      "commit",
      "--quiet",
      "-m",
      message,
    ]);
    execFileSync("git", ["-C", dir, "push", "--quiet", bare(), "HEAD:main"]);
    return head();
  };
  const served = async () => {
    const res = await fetch(`${registryUrl}/raas/loaded`).catch(() => undefined);
    if (res?.status !== 200) return undefined;
    return ((await res.json()) as { commit?: string }).commit;
  };
  const serves = async (want: string, ms: number) => {
    for (const deadline = Date.now() + ms; Date.now() < deadline;) {
      if ((await served()) === want) return true;
      await fetch(`${registryUrl}/raas/notify`, { method: "POST" }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-follow-askpass-"));
    await mkdir(join(work, "repos"));
    execFileSync("git", ["init", "--quiet", "--bare", "-b", "main", bare()]);
    const edit = join(work, "edit");
    execFileSync("git", ["init", "--quiet", "-b", "main", edit]);
    await mkdir(join(edit, "data"));
    await writeFile(join(edit, "data", ".gitkeep"), "");
    commit("first");
    http = gitHttpServer(join(work, "repos"), seen);
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const address = http.address();
    const gitPort = typeof address === "object" && address !== null ? address.port : 0;

    // The app's askpass script, rendered as setup writes it, and the Secret's files.
    const template = await readFile(join(packageRoot(), "templates", "app", "git-askpass.sh.tmpl"), "utf8");
    const askpass = join(work, "git-askpass.sh");
    await writeFile(
      askpass,
      renderTemplate(template, { isv: "acme", app_name: "registry" }, "git-askpass.sh.tmpl"),
    );
    await chmod(askpass, 0o755);
    const secret = join(work, "secret");
    await mkdir(secret);
    await writeFile(join(secret, "username"), USER);
    await writeFile(join(secret, "password"), TOKEN);

    const port = await freePort();
    registryUrl = `http://127.0.0.1:${port}`;
    await mkdir(join(work, "content"));
    const conf = join(work, "registry.conf");
    await writeFile(
      conf,
      [
        "[general]",
        "debug = false",
        `data_dir = ${join(work, "nowhere")}`,
        "[serve_content]",
        "enable = true",
        `content_dir_v1 = ${join(work, "content")}`,
        `content_dir_v2 = ${join(work, "content")}`,
        "use_x_sendfile = false",
        "[raas]",
        "listen = 127.0.0.1",
        `port = ${port}`,
        "[metadata]",
        `follow = http://127.0.0.1:${gitPort}/app.git`,
        "follow_interval = 0.2",
        `follow_dir = ${join(work, "follow.git")}`,
        "",
      ].join("\n"),
    );
    registry = spawn(
      process.execPath,
      [join(packageRoot(), "dist", "server-bundle", "main.js"), "--config", conf],
      {
        env: {
          PATH: process.env.PATH ?? "",
          HOME: work,
          GIT_ASKPASS: askpass,
          RAAS_GIT_CREDENTIALS: secret,
          RAAS_WORKERS: "1",
        },
      },
    );
    registry.stdout?.on("data", (c: Buffer) => (output += c.toString()));
    registry.stderr?.on("data", (c: Buffer) => (output += c.toString()));
  }, 60_000);

  afterAll(async () => {
    registry?.kill("SIGTERM");
    await new Promise<void>((resolve) => http?.close(() => resolve()));
    await rm(work, { recursive: true, force: true });
  });

  it("serves the branch, fetched with the user and token from the Secret's files", async () => {
    expect(await serves(head(), 60_000), output).toBe(true);
    // git asked anonymously first, was refused, then ran the script and sent the files' values.
    expect(seen).toContain("(none)");
    expect(seen).toContain(`${USER}:right`);
    expect(seen).not.toContain(`${USER}:wrong`);
  }, 90_000);

  it("a wrong token keeps the commit being served; the rotated token is read at the next check, without a restart", async () => {
    const before = head();
    await writeFile(join(work, "secret", "password"), "expired-token");
    const next = commit("second");
    expect(await serves(next, 3_000)).toBe(false);
    expect(await served()).toBe(before);
    expect(seen).toContain(`${USER}:wrong`);
    await writeFile(join(work, "secret", "password"), TOKEN);
    expect(await serves(next, 60_000), output).toBe(true);
  }, 90_000);

  it("never writes the token to registry.conf or the server's output", async () => {
    expect(output).not.toBe("");
    expect(output).not.toContain(TOKEN);
    expect(await readFile(join(work, "registry.conf"), "utf8")).not.toContain(TOKEN);
  });
});
