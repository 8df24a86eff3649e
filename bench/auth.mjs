// Benchmark: identity and access, in-process (no HTTP): token issuance per second, password
// checks per second, and authorize() with a bearer token against anonymous access in the same
// run (the decision alone, a fraction of a microsecond either way).
// Then the real server (the bundle, [auth] mode = local, one worker and all workers): manifest
// GET of a private repository with a bearer token against an anonymous public one, same run,
// wrk, alternating slices (BENCH_SECONDS each, default 5; BENCH_CONNECTIONS, default 32). The
// target (≥ 0.8x anonymous: auth's per-request cost must stay small) is on these whole requests.
// Run alone with `npm run build && node bench/auth.mjs`. BENCH_AUTH_MS sets each measure's time.
import os from "node:os";
import path from "node:path";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { freePort, serverBundleArgs, startProcess, waitFor, wrk } from "./lib/procs.mjs";
import { writeRegistryApp } from "./lib/registry-app.mjs";
import { printResult, runIfMain } from "./lib/report.mjs";
import { root } from "./lib/raas-cli.mjs";

const auth = await import(path.join(root, "dist", "auth", "index.js"));
const MS = Number(process.env.BENCH_AUTH_MS ?? 1000);

/** Run `op` (async) back to back for MS milliseconds with `concurrency` in flight; ops per second. */
async function rate(op, concurrency = 1) {
  let count = 0;
  const end = performance.now() + MS;
  const worker = async () => {
    while (performance.now() < end) {
      await op();
      count++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return (count * 1000) / (performance.now() - start);
}

const fmt = (n) => Math.round(n).toLocaleString("en-US");

export async function benchAuth() {
  const password = "bench-password-1";
  const hash = await auth.hashPassword(password);
  const policy = auth.parsePolicy(`version: 1
registry: { anonymousPull: ["public/**"] }
users:
  alice: { password: "${hash}", privileges: [puller, pusher] }
groups:
  devs: { members: [alice] }
apps:
  bigdata: { responsibleGroups: [devs] }
`);
  const keys = await auth.ensureKeys(
    await import("node:fs/promises").then((fs) => fs.mkdtemp(path.join(os.tmpdir(), "raas-bench-auth-"))),
  );
  const service = "bench.registry";
  const tokens = auth.createTokenService({ policy: () => policy, keys, issuer: "raas", service });
  const verify = auth.createVerifier({ keys, issuer: "raas", service });
  const authorizer = auth.createAuthorizer({
    realm: "https://bench/token",
    service,
    verify,
    policy: () => policy,
  });
  const basic = `Basic ${Buffer.from(`alice:${password}`).toString("base64")}`;
  const scope = "scope=repository:apps/bigdata/server:pull";
  const request = (authorization) => ({
    method: "GET",
    url: `/token?service=${service}&${scope}`,
    headers: authorization === undefined ? {} : { authorization },
    remoteAddress: "127.0.0.1",
  });

  const anonymousTokens = await rate(() => tokens.handle(request(undefined)));
  const userTokens = await rate(() => tokens.handle(request(basic)));
  const scrypt = await rate(() => auth.verifyPassword(password, hash), 4);
  const token = JSON.parse((await tokens.handle(request(basic))).body).token;
  const verifyRate = await rate(() => verify(token));
  // Alternate short slices of both, median of 5 each, so load changes hit both alike.
  const bearer = { headers: { authorization: `Bearer ${token}` } };
  const anonRuns = [];
  const tokenRuns = [];
  for (let i = 0; i < 5; i++) {
    anonRuns.push(await rate(() => authorizer.authorize({ headers: {} }, "public/base", "pull")));
    tokenRuns.push(await rate(() => authorizer.authorize(bearer, "apps/bigdata/server", "pull")));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const anonymous = median(anonRuns);
  const withToken = median(tokenRuns);

  const load = os.loadavg()[0].toFixed(2);
  return {
    title: `auth (in-process; ${os.cpus().length} cores, load ${load} before the run, ${new Date().toISOString().slice(0, 10)})`,
    rows: [
      ["token issuance, anonymous (ES256 sign)", `${fmt(anonymousTokens)}/s`, "GET /token, one scope"],
      [
        "token issuance, Basic login remembered",
        `${fmt(userTokens)}/s`,
        "verified-login cache hit, then sign",
      ],
      [
        "password check, scrypt N=2^15 r=8 p=1",
        `${fmt(scrypt)}/s`,
        "4 in flight (libuv pool); first login of a client",
      ],
      ["token verification, uncached", `${fmt(verifyRate)}/s`, "ES256 verify + claim checks"],
      ["authorize(): anonymous public pull", `${fmt(anonymous)}/s`, "baseline, same run"],
      [
        "authorize(): bearer token (cached)",
        `${fmt(withToken)}/s`,
        `ratio ${(withToken / anonymous).toFixed(2)}x (the decision alone; the ≥ 0.8x target is on whole requests, below)`,
      ],
    ],
  };
}

/** The bundled server with [auth] mode = local: a public and a private copy of one image. */
async function startAuthServer(work, workers) {
  const port = await freePort();
  const pub = await writeRegistryApp(work, { name: "public/app", repository: "public-app" });
  const priv = await writeRegistryApp(work, { name: "bench/app", repository: "bench-app" });
  const hash = await auth.hashPassword("bench-password-1");
  writeFileSync(
    path.join(work, "access.yaml"),
    `version: 1
registry: { anonymousPull: ["public/**"], publicationGroups: [readers] }
users:
  alice: { password: "${hash}", privileges: [puller] }
groups:
  readers: { members: [alice] }
`,
  );
  await auth.ensureKeys(path.join(work, "state"));
  const conf = path.join(work, `auth-${workers}.conf`);
  writeFileSync(
    conf,
    "[general]\ndata_dir = data\ndata_dir_polling_interval = 60\n[raas]\nmanifest_dir = manifests\naccess_log = false\n" +
      "[serve_content]\nenable = true\ncontent_dir_v1 = content/v1\ncontent_dir_v2 = content\nuse_x_sendfile = false\n" +
      `[auth]\nmode = local\nrealm = http://127.0.0.1:${port}/token\nservice = bench\nkey_dir = state\n` +
      "policy_file = access.yaml\ntoken_ttl = 3600\n",
  );
  const proc = startProcess(
    process.execPath,
    serverBundleArgs(root, conf, port),
    path.join(work, `server-${workers}.log`),
    { env: { ...process.env, RAAS_WORKERS: String(workers) } },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/readyz`, { expect: 200, what: "raas registry with [auth]" });
  const res = await fetch(`${url}/token?service=bench&scope=repository:bench/app:pull`, {
    headers: { authorization: `Basic ${Buffer.from("alice:bench-password-1").toString("base64")}` },
  });
  const { token } = await res.json();
  return { url, token, pub, priv, stop: () => proc.stop() };
}

export async function benchAuthServer() {
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
  const loadBefore = os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join("/");
  const accept = { Accept: "application/vnd.docker.distribution.manifest.v2+json" };
  const rows = [];
  for (const workers of [1, "auto"]) {
    const work = mkdtempSync(path.join(os.tmpdir(), "raas-bench-authsrv-"));
    const server = await startAuthServer(work, workers);
    try {
      const anonUrl = `${server.url}/v2/public/app/manifests/latest`;
      const privUrl = `${server.url}/v2/bench/app/manifests/latest`;
      const bearer = { ...accept, Authorization: `Bearer ${server.token}` };
      // Both must answer 200 (the private one only with the token) before anything is measured.
      for (const [url, headers, want] of [
        [anonUrl, accept, 200],
        [privUrl, accept, 401],
        [privUrl, bearer, 200],
      ]) {
        const res = await fetch(url, { headers });
        await res.arrayBuffer();
        if (res.status !== want) throw new Error(`${url} answered ${res.status}, expected ${want}`);
      }
      wrk(anonUrl, { seconds: 1, connections, headers: accept });
      wrk(privUrl, { seconds: 1, connections, headers: bearer });
      const anon = [];
      const withToken = [];
      for (let i = 0; i < 3; i++) {
        anon.push(wrk(anonUrl, { seconds, connections, headers: accept }));
        withToken.push(wrk(privUrl, { seconds, connections, headers: bearer }));
      }
      const mid = (runs) => [...runs].sort((a, b) => a.rps - b.rps)[1];
      const a = mid(anon);
      const t = mid(withToken);
      if (a.non2xx > 0 || t.non2xx > 0) throw new Error(`non-2xx answers: ${a.non2xx} / ${t.non2xx}`);
      const label = workers === 1 ? "1 worker" : "all workers";
      rows.push([
        `manifest GET, anonymous public (${label})`,
        `${fmt(a.rps)}/s`,
        `p99 ${a.p99ms.toFixed(1)} ms; baseline`,
      ]);
      rows.push([
        `manifest GET, bearer token private (${label})`,
        `${fmt(t.rps)}/s`,
        `p99 ${t.p99ms.toFixed(1)} ms; ratio ${(t.rps / a.rps).toFixed(2)}x (target ≥ 0.8x)`,
      ]);
    } finally {
      await server.stop();
      rmSync(work, { recursive: true, force: true });
    }
  }
  return {
    title:
      `auth through the real server (wrk -t2, ${connections} connections, median of 3 × ${seconds} s, alternating; ` +
      `nproc ${os.availableParallelism()}, load ${loadBefore} before, ${os
        .loadavg()
        .map((n) => n.toFixed(2))
        .join("/")} after, ` +
      `${new Date().toISOString()})`,
    rows,
  };
}

await runIfMain(import.meta.url, benchAuth);
if (import.meta.url === `file://${process.argv[1]}`) printResult(await benchAuthServer());
