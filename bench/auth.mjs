// Benchmark: identity and access, in-process (no HTTP): token issuance per second, password
// checks per second, and authorize() with a bearer token against anonymous access in the same
// run (target ≥ 0.8x: the registry's per-request cost of auth must stay small).
// Run alone with `npm run build && node bench/auth.mjs`. BENCH_AUTH_MS sets each measure's time.
import os from "node:os";
import path from "node:path";
import { runIfMain } from "./lib/report.mjs";
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
        `ratio ${(withToken / anonymous).toFixed(2)}x (target ≥ 0.8x)`,
      ],
    ],
  };
}

await runIfMain(import.meta.url, benchAuth);
