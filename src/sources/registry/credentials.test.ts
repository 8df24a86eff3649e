import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { authFiles, findCredentials } from "./credentials.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("source registry credentials", () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), "raas-creds-"));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it("reads containers auth.json before docker config.json, the most specific key winning", async () => {
    await mkdir(join(home, ".config", "containers"), { recursive: true });
    await mkdir(join(home, ".docker"), { recursive: true });
    await writeFile(
      join(home, ".config", "containers", "auth.json"),
      JSON.stringify({
        auths: {
          "reg.example.com": { auth: b64("host:pw1") },
          "reg.example.com/acme": { auth: b64("ns:pw2") },
        },
      }),
    );
    await writeFile(
      join(home, ".docker", "config.json"),
      JSON.stringify({ auths: { "https://other.example.com/v1/": { auth: b64("dock:pw:with:colons") } } }),
    );
    const env = { HOME: home };
    expect(await findCredentials(env, "reg.example.com", "acme/app")).toMatchObject({
      username: "ns",
      password: "pw2",
    });
    expect(await findCredentials(env, "reg.example.com", "other/app")).toMatchObject({ username: "host" });
    expect(await findCredentials(env, "other.example.com", "x")).toMatchObject({
      username: "dock",
      password: "pw:with:colons",
    });
    expect(await findCredentials(env, "nowhere.example.com", "x")).toBeUndefined();
  });

  it("prefers the environment, then REGISTRY_AUTH_FILE and XDG_RUNTIME_DIR", async () => {
    const file = join(home, "auth.json");
    await writeFile(file, JSON.stringify({ auths: { h: { auth: b64("fromfile:x") } } }));
    expect(authFiles({ REGISTRY_AUTH_FILE: file, XDG_RUNTIME_DIR: "/run/u", HOME: home })).toEqual([
      file,
      "/run/u/containers/auth.json",
      join(home, ".config", "containers", "auth.json"),
      join(home, ".docker", "config.json"),
    ]);
    expect(await findCredentials({ REGISTRY_AUTH_FILE: file }, "h", "a")).toMatchObject({
      username: "fromfile",
    });
    const env = { REGISTRY_AUTH_FILE: file, RAAS_SRC_USERNAME: "envuser", RAAS_SRC_PASSWORD: "envpw" };
    expect(await findCredentials(env, "h", "a")).toEqual({
      username: "envuser",
      password: "envpw",
      from: "$RAAS_SRC_USERNAME",
    });
    await expect(findCredentials({ RAAS_SRC_USERNAME: "x" }, "h", "a")).rejects.toThrow(
      /RAAS_SRC_PASSWORD is not/,
    );
  });

  it("names the file of a broken entry without printing the secret", async () => {
    const file = join(home, "auth.json");
    await writeFile(file, JSON.stringify({ auths: { h: { auth: b64("nocolon-secret") } } }));
    const error: unknown = await findCredentials({ REGISTRY_AUTH_FILE: file }, "h", "a").then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(error instanceof Error)) throw new Error("expected the broken entry to be refused");
    expect(error.message).toContain(file);
    expect(error.message).not.toContain("nocolon-secret");
    await writeFile(file, "{not json");
    await expect(findCredentials({ REGISTRY_AUTH_FILE: file }, "h", "a")).rejects.toThrow(/not valid JSON/);
  });
});
