/**
 * Docker credential helpers, played by real programs the test writes into a directory on PATH:
 * each speaks the docker-credential-helpers protocol (`get`, server URL on stdin, JSON on
 * stdout) or breaks it in one way (missing, hanging, garbage, flooding, failing).
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findCredentials } from "./credentials.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

let home: string;
let bin: string;
let env: NodeJS.ProcessEnv;

/** Writes `docker-credential-<name>`: a node program whose body sees `server` (stdin) and `log`. */
async function helper(name: string, body: string): Promise<void> {
  const file = join(bin, `docker-credential-${name}`);
  await writeFile(
    file,
    [
      `#!${process.execPath}`,
      'const fs = require("node:fs");',
      `const log = (line) => fs.appendFileSync(${JSON.stringify(join(bin, `${name}.log`))}, line + "\\n");`,
      "let server = '';",
      "process.stdin.on('data', (c) => (server += c));",
      "process.stdin.on('end', () => {",
      "  log(process.argv.slice(2).join(' ') + ' ' + server);",
      body,
      "});",
      "",
    ].join("\n"),
  );
  await chmod(file, 0o755);
}

const answer = (username: string, secret: string) =>
  `process.stdout.write(JSON.stringify({ ServerURL: server, Username: ${JSON.stringify(username)}, Secret: ${JSON.stringify(secret)} }));`;
const NOT_FOUND = 'process.stdout.write("credentials not found in native keychain\\n"); process.exit(1);';

async function dockerConfig(doc: unknown): Promise<void> {
  await mkdir(join(home, ".docker"), { recursive: true });
  await writeFile(join(home, ".docker", "config.json"), JSON.stringify(doc));
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const outcome: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(outcome instanceof Error)) throw new Error("expected the lookup to fail");
  return outcome;
}

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "raas-credhelp-"));
  bin = join(home, "bin");
  await mkdir(bin);
  env = { HOME: home, PATH: `${bin}:${process.env.PATH ?? ""}` };
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe("docker credential helpers", () => {
  it("asks the credHelpers entry of the host, with `get` and the host on stdin", async () => {
    await helper("per-host", answer("alice", "alice-pw"));
    await helper("store", answer("bob", "bob-pw"));
    await dockerConfig({
      credHelpers: { "reg.example.com:5000": "per-host" },
      credsStore: "store",
      auths: { "reg.example.com:5000": { auth: b64("file:ignored") } },
    });
    expect(await findCredentials(env, "reg.example.com:5000", "acme/app")).toEqual({
      username: "alice",
      password: "alice-pw",
      from: `docker-credential-per-host (${join(home, ".docker", "config.json")} credHelpers)`,
    });
    expect(await readFile(join(bin, "per-host.log"), "utf8")).toBe("get reg.example.com:5000\n");
    // Every other host goes to the default store, Docker Hub under its legacy server URL.
    expect(await findCredentials(env, "other.example.com", "x")).toMatchObject({ username: "bob" });
    expect(await findCredentials(env, "registry-1.docker.io", "library/nginx")).toMatchObject({
      username: "bob",
    });
    expect((await readFile(join(bin, "store.log"), "utf8")).split("\n")).toEqual([
      "get other.example.com",
      "get https://index.docker.io/v1/",
      "",
    ]);
  });

  it("treats 'credentials not found' as nothing stored and goes on to the next source", async () => {
    await helper("empty", NOT_FOUND);
    await dockerConfig({ credsStore: "empty", auths: { "reg.example.com": { auth: b64("file:pw") } } });
    expect(await findCredentials(env, "reg.example.com", "a")).toMatchObject({
      username: "file",
      password: "pw",
    });
    expect(await findCredentials(env, "nothing.example.com", "a")).toBeUndefined();
  });

  it("reads credHelpers from containers' auth.json before docker's config.json", async () => {
    await helper("podman-side", answer("pod", "pod-pw"));
    await helper("docker-side", answer("dock", "dock-pw"));
    await mkdir(join(home, ".config", "containers"), { recursive: true });
    await writeFile(
      join(home, ".config", "containers", "auth.json"),
      JSON.stringify({ credHelpers: { "quay.example.com": "podman-side" } }),
    );
    await dockerConfig({ credHelpers: { "quay.example.com": "docker-side" } });
    expect(await findCredentials(env, "quay.example.com", "a/b")).toMatchObject({
      username: "pod",
      password: "pod-pw",
    });
  });

  it("turns Username <token> into an identity token, as docker login stores one", async () => {
    await helper("tok", answer("<token>", "refresh-abc"));
    await dockerConfig({ credsStore: "tok" });
    expect(await findCredentials(env, "reg.example.com", "a")).toMatchObject({
      username: "",
      password: "",
      identityToken: "refresh-abc",
    });
    await dockerConfig({
      auths: { "reg.example.com": { auth: b64("alice:"), identitytoken: "refresh-def" } },
    });
    expect(await findCredentials(env, "reg.example.com", "a")).toMatchObject({
      identityToken: "refresh-def",
    });
  });

  it("names the helper and the registry when the helper is missing, fails or hangs", async () => {
    await dockerConfig({ credHelpers: { "reg.example.com": "absent" } });
    const missing = await failure(findCredentials(env, "reg.example.com", "a"));
    expect(missing.message).toMatch(
      /docker-credential-absent .*credHelpers.* for reg\.example\.com: .*not installed/,
    );

    await helper("broken", 'process.stderr.write("keychain locked\\n"); process.exit(3);');
    await dockerConfig({ credHelpers: { "reg.example.com": "broken" } });
    expect((await failure(findCredentials(env, "reg.example.com", "a"))).message).toMatch(
      /docker-credential-broken .* for reg\.example\.com: it exited with 3 \(keychain locked\)/,
    );

    await helper("stuck", "setInterval(() => undefined, 1000);");
    await dockerConfig({ credHelpers: { "reg.example.com": "stuck" } });
    const started = Date.now();
    const stuck = await failure(findCredentials(env, "reg.example.com", "a", undefined, { timeoutMs: 500 }));
    expect(stuck.message).toMatch(
      /docker-credential-stuck .* for reg\.example\.com: no answer within 500 ms/,
    );
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("refuses garbage and floods without repeating what the helper printed", async () => {
    await helper("garbage", 'process.stdout.write("Username=alice Secret=leaked-secret-1");');
    await dockerConfig({ credsStore: "garbage" });
    const garbage = await failure(findCredentials(env, "reg.example.com", "a"));
    expect(garbage.message).toMatch(/docker-credential-garbage .* for reg\.example\.com: .*not the JSON/);
    expect(garbage.message).not.toContain("leaked-secret-1");

    await helper(
      "shape",
      'process.stdout.write(JSON.stringify({ Username: 7, Secret: "leaked-secret-2" }));',
    );
    await dockerConfig({ credsStore: "shape" });
    const shape = await failure(findCredentials(env, "reg.example.com", "a"));
    expect(shape.message).toMatch(/lacks the Username and Secret/);
    expect(shape.message).not.toContain("leaked-secret-2");

    await helper(
      "flood",
      'const chunk = "x".repeat(65536); const pump = () => { while (process.stdout.write(chunk)); process.stdout.once("drain", pump); }; pump();',
    );
    await dockerConfig({ credsStore: "flood" });
    expect((await failure(findCredentials(env, "reg.example.com", "a"))).message).toMatch(
      /docker-credential-flood .*more than 65536 bytes/,
    );
  });

  it("refuses a helper name that would leave the PATH lookup, or is not a name at all", async () => {
    await dockerConfig({ credHelpers: { "reg.example.com": "../../bin/sh" } });
    expect((await failure(findCredentials(env, "reg.example.com", "a"))).message).toMatch(
      /"\.\.\/\.\.\/bin\/sh" is not a credential helper name/,
    );
    await dockerConfig({ credHelpers: { "reg.example.com": { name: "x" } } });
    expect((await failure(findCredentials(env, "reg.example.com", "a"))).message).toMatch(
      /config\.json: the credHelpers entry for reg\.example\.com is not a helper name/,
    );
    await dockerConfig({ credsStore: ["x"] });
    expect((await failure(findCredentials(env, "reg.example.com", "a"))).message).toMatch(
      /config\.json: credsStore is not a helper name/,
    );
  });
});
