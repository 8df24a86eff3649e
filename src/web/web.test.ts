import { createServer, type Server } from "node:http";
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Digest } from "../image/digest.js";
import type { ManifestInfo, WebCatalog } from "./catalog.js";
import { pullChart } from "./chart.js";
import { pullCommands } from "./commands.js";
import { escapeHtml, h, Html } from "./html.js";
import { ConfigCache, Lru, summarizeConfig } from "./model.js";
import { storageReader } from "./storage-reader.js";

describe("h (the only way markup is built)", () => {
  it("escapes every interpolated string, number and array item, and keeps nested markup", () => {
    const evil = `<script>"'&</script>`;
    const out = h`<p title="${evil}">${evil}${[evil, h`<b>${evil}</b>`]}${7}${undefined}${false}</p>`;
    expect(out.toString()).toBe(
      `<p title="${escapeHtml(evil)}">${escapeHtml(evil)}${escapeHtml(evil)}<b>${escapeHtml(evil)}</b>7</p>`,
    );
    expect(escapeHtml(evil)).toBe("&lt;script&gt;&quot;&#39;&amp;&lt;/script&gt;");
    expect(h`${Html.trusted("<br>")}`.toString()).toBe("<br>");
  });
});

describe("the module boundary", () => {
  it("imports nothing from the CLI, commands, app or config layers (it is bundled into the server)", async () => {
    const dir = new URL(".", import.meta.url).pathname;
    const files = (await readdir(dir)).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const text = await readFile(join(dir, file), "utf8");
      const imports = [...text.matchAll(/from "([^"]+)"/g)].map((m) => m[1] ?? "");
      for (const spec of imports) {
        expect(spec, `${file} imports ${spec}`).not.toMatch(/^\.\.\/(cli|commands|app|config)\//);
        expect(spec.startsWith(".") || spec.startsWith("node:"), `${file} imports package ${spec}`).toBe(
          true,
        );
      }
    }
  });
});

describe("summarizeConfig", () => {
  it("takes only well-typed fields from an untrusted config", () => {
    const text = JSON.stringify({
      created: "not a date",
      author: 42,
      architecture: "arm64",
      os: "linux",
      config: { Env: ["A=1", 2], Cmd: ["sh"], Labels: { a: "1", b: 2 }, ExposedPorts: { "80/tcp": {} } },
    }).replace('"a":"1"', '"__proto__":"p","a":"1"');
    const summary = summarizeConfig(Buffer.from(text));
    expect(summary).toEqual({
      architecture: "arm64",
      os: "linux",
      cmd: ["sh"],
      exposedPorts: ["80/tcp"],
      labels: [
        ["__proto__", "p"],
        ["a", "1"],
      ],
    });
    for (const bad of ["[]", "null", "{", '"x"']) expect(summarizeConfig(Buffer.from(bad))).toBeUndefined();
  });

  it("keeps a summary small however large the config is", () => {
    const huge = "x".repeat(500_000);
    const labels = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`l${i}`, huge.slice(0, 2000)]));
    const config = {
      author: huge,
      config: { Env: Array.from({ length: 5000 }, () => huge.slice(0, 5000)), Labels: labels },
    };
    const summary = summarizeConfig(Buffer.from(JSON.stringify(config)));
    expect(summary?.author?.length).toBe(1000);
    expect(summary?.env).toHaveLength(100);
    expect(summary?.labels).toHaveLength(100);
    expect(JSON.stringify(summary).length).toBeLessThan(250_000);
  });
});

describe("Lru", () => {
  it("evicts the least recently used entries by count and by weight", () => {
    const lru = new Lru<string, string>(3, 10, (v) => v.length);
    lru.set("a", "1111");
    lru.set("b", "2222");
    expect(lru.get("a")).toBe("1111"); // a is now the most recent
    lru.set("c", "3333"); // weight 12 > 10: b goes
    expect(lru.get("b")).toBeUndefined();
    expect(lru.weight).toBe(8);
    lru.set("d", "4");
    lru.set("e", "5"); // four entries > 3: the oldest (a) goes
    expect(lru.get("a")).toBeUndefined();
    expect(lru.get("c")).toBe("3333");
    lru.set("big", "x".repeat(50)); // heavier than the limit alone: it stays, the rest go
    expect(lru.get("big")).toHaveLength(50);
    expect(lru.get("c")).toBeUndefined();
  });
});

describe("pullChart and pullCommands", () => {
  it("draws non-finite or negative counts as zero", () => {
    const svg = pullChart("c", [
      { day: "2025-01-01", pulls: Number.NaN },
      { day: "2025-01-02", pulls: -5 },
      { day: "2025-01-03", pulls: Number.POSITIVE_INFINITY },
      { day: "2025-01-04", pulls: 4 },
    ]).toString();
    expect(svg).toContain("4 in total, at most 4 a day");
    expect(svg).not.toMatch(/NaN|Infinity|height="-/);
  });

  it("needs no shell quoting: only validated parts", () => {
    const cmds = pullCommands({
      host: "r.example:5000",
      name: "a/b",
      digest: `sha256:${"a".repeat(64)}`,
      plainHttp: false,
    });
    expect(cmds.map((c) => c.text)).toEqual([
      `skopeo copy docker://r.example:5000/a/b@sha256:${"a".repeat(64)} oci:b`,
      `podman pull r.example:5000/a/b@sha256:${"a".repeat(64)}`,
      `docker pull r.example:5000/a/b@sha256:${"a".repeat(64)}`,
    ]);
  });

  it("trusts a private CA with --cert-dir over HTTPS (quoted as one shell word), never over plain HTTP", () => {
    const target = { host: "127.0.0.1:5000", name: "demo/hello", tag: "1.0", plainHttp: false };
    expect(pullCommands({ ...target, certDir: "/home/me/raas/demo/certs" }).map((c) => c.text)).toEqual([
      "skopeo copy --src-cert-dir /home/me/raas/demo/certs docker://127.0.0.1:5000/demo/hello:1.0 oci:hello:1.0",
      "podman pull --cert-dir /home/me/raas/demo/certs 127.0.0.1:5000/demo/hello:1.0",
      "docker pull 127.0.0.1:5000/demo/hello:1.0",
    ]);
    expect(pullCommands({ ...target, certDir: "/home/O'Neil/my certs" })[1]?.text).toBe(
      "podman pull --cert-dir '/home/O'\\''Neil/my certs' 127.0.0.1:5000/demo/hello:1.0",
    );
    expect(pullCommands({ ...target, plainHttp: true, certDir: "/x" })[0]?.text).toBe(
      "skopeo copy --src-tls-verify=false docker://127.0.0.1:5000/demo/hello:1.0 oci:hello:1.0",
    );
  });
});

describe("storageReader", () => {
  let dir: string;
  let peer: Server;
  let peerUrl: string;
  const logs: string[] = [];
  const small = Buffer.from("small object");
  const digest = sha256Digest(small);
  const key = (d: string) => `repo/blobs/${d}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "raas-web-reader-"));
    await mkdir(join(dir, "repo", "blobs"), { recursive: true });
    await writeFile(join(dir, key(digest)), small);
    await writeFile(join(dir, key(`sha256:${"b".repeat(64)}`)), Buffer.alloc(2048));
    peer = createServer((req, res) => {
      if (req.url?.includes("big")) {
        // No Content-Length: the cap must hold while streaming.
        res.writeHead(200, { "Transfer-Encoding": "chunked" });
        for (let i = 0; i < 64; i++) res.write(Buffer.alloc(1024));
        res.end();
      } else if (req.url?.includes("small")) {
        res.end(small);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => peer.listen(0, "127.0.0.1", resolve));
    peerUrl = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => peer.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it("reads serve_content files up to the cap, and refuses keys outside the layout", async () => {
    const files = storageReader({ contentDir: dir });
    expect(await files.read(key(digest), "", 1024)).toEqual(small);
    expect(await files.read(key(`sha256:${"b".repeat(64)}`), "", 1024)).toBeUndefined();
    expect(await files.read(key(`sha256:${"c".repeat(64)}`), "", 1024)).toBeUndefined();
    for (const bad of [
      "../repo/blobs/x",
      `repo/../../etc/${digest}`,
      `/abs/blobs/${digest}`,
      `repo/blobs/${digest}/x`,
    ]) {
      expect(await files.read(bad, "", 1024)).toBeUndefined();
    }
  });

  it("fetches through the redirect URL with a cap, and logs the key but never the URL", async () => {
    const secretUrl = (what: string) => `${peerUrl}/${what}?X-Amz-Signature=SECRETSIG`;
    const remote = (what: string) =>
      storageReader({
        urlFor: () => Promise.resolve(secretUrl(what)),
        log: (m) => logs.push(m),
        timeoutMs: 2000,
      });
    expect(await remote("small").read(key(digest), "", 1024)).toEqual(small);
    expect(await remote("big").read(key(digest), "", 4096)).toBeUndefined();
    expect(await remote("missing").read(key(digest), "", 1024)).toBeUndefined();
    const down = storageReader({
      urlFor: () => Promise.resolve("http://127.0.0.1:1/x?sig=SECRETSIG"),
      log: (m) => logs.push(m),
    });
    expect(await down.read(key(digest), "", 1024)).toBeUndefined();
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.join("\n")).not.toContain("SECRETSIG");
  });
});

describe("ConfigCache", () => {
  it("waits no longer than its budget, then finishes in the background", async () => {
    const config = Buffer.from(JSON.stringify({ created: "2025-01-01T00:00:00Z" }));
    const configDigest = sha256Digest(config);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let reads = 0;
    const catalog: WebCatalog = {
      repositories: () => [],
      repository: () => undefined,
      manifestBytes: () => Promise.resolve(undefined),
      blobBytes: async () => {
        reads++;
        await gate;
        return config;
      },
    };
    const cache = new ConfigCache(catalog);
    const image: ManifestInfo = {
      digest: `sha256:${"1".repeat(64)}` as const,
      mediaType: "x",
      size: 1,
      refs: [configDigest],
    };
    const started = Date.now();
    expect(await cache.loadMany("r", [image, image], 50)).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(cache.peek(configDigest)).toBeUndefined();
    release();
    await cache.load("r", image);
    expect(cache.peek(configDigest)?.created).toBe("2025-01-01T00:00:00Z");
    expect(reads).toBe(1); // concurrent loads of one digest share one read
    expect(await cache.loadMany("r", [image], 50)).toBe(true);
  });
});
