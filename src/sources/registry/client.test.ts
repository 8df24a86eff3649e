/**
 * A hostile or flaky upstream, played by a loopback HTTP server: every answer raas gets from
 * a registry is checked (digests, sizes, types, counts) and a bad one is a clear error, never
 * a crash, a hang or an unbounded allocation. Retries and the token dance are observed here too.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Digest } from "../../image/digest.js";
import { MediaType } from "../../image/media-types.js";
import { RegistryClient } from "./client.js";
import { readRegistryImage } from "./image.js";
import { parseRegistryReference } from "./reference.js";
import { parseChallenge } from "./auth.js";
import type { Credentials } from "./credentials.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let server: Server | undefined;

async function upstream(
  handler: Handler,
  credentials: Credentials = { username: "u", password: "p", from: "test" },
): Promise<RegistryClient> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return new RegistryClient(`127.0.0.1:${port}`, {
    transport: { tlsVerify: true, plainHttp: true, timeoutMs: 5000 },
    credentials,
    backoffMs: 1,
  });
}

afterEach(async () => {
  await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  server = undefined;
});

const manifest = (layers: number) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: sha256Digest("{}"), size: 2 },
      layers: Array.from({ length: layers }, (_, i) => ({
        mediaType: MediaType.ociLayerGzip,
        digest: sha256Digest(`layer${i}`),
        size: 6,
      })),
    }),
  );

describe("upstream answers are checked", () => {
  it("refuses a manifest whose bytes do not match the digest asked for", async () => {
    const body = manifest(1);
    const client = await upstream((_req, res) => {
      res.writeHead(200, { "Content-Type": MediaType.ociManifest }).end(body);
    });
    await expect(client.manifest("a/b", `sha256:${"1".repeat(64)}`)).rejects.toThrow(/hashes to sha256:/);
  });

  it("refuses a tag manifest whose Docker-Content-Digest disagrees with its bytes", async () => {
    const client = await upstream((_req, res) => {
      res
        .writeHead(200, {
          "Content-Type": MediaType.ociManifest,
          "Docker-Content-Digest": `sha256:${"2".repeat(64)}`,
        })
        .end(manifest(1));
    });
    await expect(client.manifest("a/b", "1.0")).rejects.toThrow(/but the registry says/);
  });

  it("stops reading a manifest past 4 MiB and refuses unknown media types", async () => {
    let sent = 0;
    const client = await upstream((req, res) => {
      if (req.url?.includes("huge") === true) {
        res.writeHead(200, { "Content-Type": MediaType.ociManifest });
        const chunk = Buffer.alloc(1024 * 1024, 32);
        const pump = (): void => {
          while (sent < 64 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
          if (sent < 64 * 1024 * 1024) res.once("drain", pump);
          else res.end();
        };
        res.on("close", () => (sent = Infinity));
        pump();
        return;
      }
      res.writeHead(200, { "Content-Type": "text/html" }).end("<html>");
    });
    await expect(client.manifest("huge/x", "1.0")).rejects.toThrow(/larger than the 4194304-byte limit/);
    await expect(client.manifest("a/b", "1.0")).rejects.toThrow(/media type "text\/html"/);
  });

  it("refuses an index with too many entries and a manifest with too many layers", async () => {
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: Array.from({ length: 300 }, (_, i) => ({
          mediaType: MediaType.ociManifest,
          digest: sha256Digest(String(i)),
          size: 10,
        })),
      }),
    );
    const big = manifest(600);
    const client = await upstream((req, res) => {
      const isIndex = req.url?.includes("idx") === true;
      res.writeHead(200, { "Content-Type": isIndex ? MediaType.ociIndex : MediaType.ociManifest });
      if (req.url?.includes("/blobs/") === true) res.end("{}");
      else res.end(isIndex ? index : big);
    });
    await expect(readRegistryImage(client, "idx/x", "1.0")).rejects.toThrow(/300 manifests, more than 256/);
    await expect(readRegistryImage(client, "img/x", "1.0")).rejects.toThrow(/600 layers, more than 512/);
  });

  it("refuses a manifest whose body claims another type than its header (type confusion)", async () => {
    const body = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }),
    );
    const client = await upstream((_req, res) => {
      res.writeHead(200, { "Content-Type": MediaType.ociManifest }).end(body);
    });
    await expect(readRegistryImage(client, "a/b", "1.0")).rejects.toThrow(/was served as/);
  });

  it("refuses tags outside the grammar and only follows pagination inside the repository", async () => {
    const client = await upstream((req, res) => {
      if (req.url?.startsWith("/v2/bad/") === true) {
        res.writeHead(200).end(JSON.stringify({ tags: ["ok", "../../etc"] }));
        return;
      }
      const page2 = req.url?.includes("last=b") === true;
      res
        .writeHead(200, page2 ? {} : { Link: '</v2/good/tags/list?last=b&n=2>; rel="next"' })
        .end(JSON.stringify({ tags: page2 ? ["c"] : ["a", "b"] }));
    });
    await expect(client.tags("bad")).rejects.toThrow(/not a valid tag/);
    expect(await client.tags("good")).toEqual(["a", "b", "c"]);
  });
});

describe("retries and auth", () => {
  it("retries 5xx and connection resets with backoff, then succeeds", async () => {
    let calls = 0;
    const client = await upstream((req, res) => {
      calls++;
      if (calls === 1) {
        req.socket.destroy();
        return;
      }
      if (calls === 2) {
        res.writeHead(503).end();
        return;
      }
      res.writeHead(200).end(JSON.stringify({ tags: ["1.0"] }));
    });
    expect(await client.tags("a/b")).toEqual(["1.0"]);
    expect(calls).toBe(3);
  });

  it("gives up after the attempts with a clear error", async () => {
    const client = await upstream((_req, res) => res.writeHead(500).end());
    await expect(client.tags("a/b")).rejects.toThrow(/GET tags\/list answered HTTP 500/);
  });

  it("answers a Bearer challenge with Basic credentials at the realm and reuses the token", async () => {
    const seen: string[] = [];
    let port = 0;
    const client = await upstream((req, res) => {
      seen.push(`${req.url ?? ""} ${req.headers.authorization ?? "-"}`);
      if (req.url?.startsWith("/token") === true) {
        const ok = req.headers.authorization === `Basic ${Buffer.from("u:p").toString("base64")}`;
        res.writeHead(ok ? 200 : 401).end(JSON.stringify({ token: "tok123" }));
        return;
      }
      if (req.headers.authorization !== "Bearer tok123") {
        res
          .writeHead(401, {
            "WWW-Authenticate": `Bearer realm="http://127.0.0.1:${port}/token",service="reg"`,
          })
          .end();
        return;
      }
      res.writeHead(200).end(JSON.stringify({ tags: ["x"] }));
    });
    port = Number(client.host.split(":")[1]);
    expect(await client.tags("a/b")).toEqual(["x"]);
    expect(await client.tags("a/b")).toEqual(["x"]);
    expect(seen[1]).toMatch(/^\/token\?service=reg&scope=repository%3Aa%2Fb%3Apull Basic /);
    expect(seen.filter((s) => s.startsWith("/token"))).toHaveLength(1);
  });

  it("replaces a token that expired between requests", async () => {
    let issued = 0;
    let valid: string | undefined;
    const client = await upstream((req, res) => {
      if (req.url?.startsWith("/token") === true) {
        valid = `tok${++issued}`;
        res.writeHead(200).end(JSON.stringify({ token: valid }));
        return;
      }
      if (valid === undefined || req.headers.authorization !== `Bearer ${valid}`) {
        res
          .writeHead(401, { "WWW-Authenticate": `Bearer realm="http://${req.headers.host ?? ""}/token"` })
          .end();
        return;
      }
      valid = undefined; // each token works once
      res.writeHead(200).end(JSON.stringify({ tags: ["x"] }));
    });
    expect(await client.tags("a/b")).toEqual(["x"]);
    expect(await client.tags("a/b")).toEqual(["x"]);
    expect(issued).toBe(2);
  });

  it("a refused token is an authentication error, not a loop", async () => {
    const client = await upstream((req, res) => {
      if (req.url?.startsWith("/token") === true) {
        res.writeHead(401).end();
        return;
      }
      res
        .writeHead(401, { "WWW-Authenticate": `Bearer realm="http://${req.headers.host ?? ""}/token"` })
        .end();
    });
    await expect(client.tags("a/b")).rejects.toThrow(/token service .* answered HTTP 401/);
  });

  it("trades an identity token with the refresh_token grant, never as Basic or after a redirect", async () => {
    const identity: Credentials = {
      username: "",
      password: "",
      identityToken: "refresh-xyz",
      from: "helper h",
    };
    const forms: string[] = [];
    const seenAuth: string[] = [];
    const client = await upstream((req, res) => {
      seenAuth.push(req.headers.authorization ?? "-");
      if (req.url === "/token") {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString("utf8")));
        req.on("end", () => {
          forms.push(`${req.method ?? ""} ${req.headers["content-type"] ?? ""} ${body}`);
          const ok = new URLSearchParams(body).get("refresh_token") === "refresh-xyz";
          res
            .writeHead(ok ? 200 : 401, { "Content-Type": "application/json" })
            .end(JSON.stringify(ok ? { access_token: "acc1" } : { error: "invalid_grant" }));
        });
        return;
      }
      if (req.headers.authorization !== "Bearer acc1") {
        res
          .writeHead(401, {
            "WWW-Authenticate": `Bearer realm="http://${req.headers.host ?? ""}/token",service="reg"`,
          })
          .end();
        return;
      }
      res.writeHead(200).end(JSON.stringify({ tags: ["x"] }));
    }, identity);
    expect(await client.tags("a/b")).toEqual(["x"]);
    expect(forms).toEqual([
      "POST application/x-www-form-urlencoded grant_type=refresh_token&refresh_token=refresh-xyz&client_id=docker&scope=repository%3Aa%2Fb%3Apull&service=reg",
    ]);
    expect(seenAuth.filter((a) => a.startsWith("Basic"))).toEqual([]);

    const other = await upstream((req, res) => {
      if (req.url === "/elsewhere") throw new Error("the token form must not follow a redirect");
      if (req.url === "/token") {
        req.resume();
        res.writeHead(307, { Location: "/elsewhere" }).end();
        return;
      }
      res
        .writeHead(401, { "WWW-Authenticate": `Bearer realm="http://${req.headers.host ?? ""}/token"` })
        .end();
    }, identity);
    const error = await other.tags("a/b").then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(error instanceof Error)) throw new Error("expected the redirected token request to fail");
    expect(error.message).toMatch(/token service .* answered HTTP 307 to the identity token from helper h/);
    expect(error.message).not.toContain("refresh-xyz");
  });

  it("an identity token cannot answer a Basic challenge", async () => {
    const client = await upstream(
      (_req, res) => res.writeHead(401, { "WWW-Authenticate": 'Basic realm="r"' }).end(),
      { username: "", password: "", identityToken: "refresh-xyz", from: "helper h" },
    );
    await expect(client.tags("a/b")).rejects.toThrow(
      /asks for a user name and password; helper h holds an identity token/,
    );
  });
});

describe("references and challenges", () => {
  it("parses docker:// references and refuses hostile ones", () => {
    expect(parseRegistryReference("docker://Reg.example.com:5000/a/b:1.0")).toEqual({
      host: "reg.example.com:5000",
      name: "a/b",
      tag: "1.0",
    });
    expect(parseRegistryReference(`docker://h/a@sha256:${"a".repeat(64)}`).digest).toBe(
      `sha256:${"a".repeat(64)}`,
    );
    expect(parseRegistryReference("docker://h/a").tag).toBe("latest");
    for (const bad of [
      "docker://a",
      "docker://h/../x",
      "docker://h/a@sha256:zz",
      "docker://h:99999/a",
      "docker://u@h/a",
    ]) {
      expect(() => parseRegistryReference(bad)).toThrow(/not a usable registry reference/);
    }
  });

  it("parses quoted challenge parameters", () => {
    expect(parseChallenge('Bearer realm="https://a/t",service="r,s",scope="repository:x:pull"')).toEqual({
      scheme: "bearer",
      params: { realm: "https://a/t", service: "r,s", scope: "repository:x:pull" },
    });
  });
});
