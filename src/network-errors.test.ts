import { createServer as createHttpServer } from "node:http";
import { createServer as createHttpsServer, request } from "node:https";
import type { AddressInfo } from "node:net";
import { readFile } from "node:fs/promises";
import type { Server } from "node:net";
import { describe, expect, it, onTestFinished } from "vitest";
import { UserError } from "./errors.js";
import { networkAddress, networkError, networkProblem } from "./network-errors.js";
import { freePort } from "../test/helpers/free-port.js";
import { tempDir } from "../test/helpers/git.js";
import { selfSignedCert } from "../test/helpers/tls.js";

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** The error fetch (undici) rejects with for `url`. */
const fetchError = (url: string, init?: RequestInit) =>
  fetch(url, { ...init, signal: AbortSignal.timeout(5000) }).then(
    () => undefined,
    (err: unknown) => err,
  );

/** The error node:https gives for `url` (another client stack than fetch, other error shapes). */
const httpsError = (url: string, options: { ca?: string; servername?: string } = {}) =>
  new Promise<unknown>((resolve) => {
    const req = request(url, { ...options, timeout: 5000 }, (res) => {
      res.resume();
      resolve(undefined);
    });
    req.on("error", resolve);
    req.end();
  });

describe("networkProblem, on real connections", () => {
  it("tells a plain HTTP server addressed as https:// from a refused port", async () => {
    const plain = await listen(createHttpServer((_req, res) => res.end("hello")));
    for (const err of [
      await fetchError(`https://127.0.0.1:${plain}/v2/`),
      await httpsError(`https://127.0.0.1:${plain}/`),
    ]) {
      expect(networkProblem(err)).toMatchObject({ code: "EPROTO", tls: "not-tls" });
      expect(networkProblem(err)?.problem).toMatch(/does not speak TLS on that port/);
    }

    const refused = await freePort();
    expect(networkAddress(await fetchError(`http://127.0.0.1:${refused}/`))).toBe(`127.0.0.1:${refused}`);
    const error = networkError(
      await fetchError(`http://127.0.0.1:${refused}/`),
      `http://127.0.0.1:${refused}`,
    );
    expect(error).toBeInstanceOf(UserError);
    expect(error?.message).toBe(
      `cannot reach http://127.0.0.1:${refused}: connection refused: nothing listens on that port (ECONNREFUSED)`,
    );
    expect(error?.hint).toMatch(/host and port/);
  });

  it("names the certificate problem of a TLS server, with the caller's own TLS options as the hint", async () => {
    const dir = await tempDir("raas-net-errors-");
    const { certPath, keyPath, cert } = await selfSignedCert(dir);
    const tls = await listen(
      createHttpsServer({ cert: await readFile(certPath), key: await readFile(keyPath) }, (_req, res) =>
        res.end("ok"),
      ),
    );
    const untrusted = await fetchError(`https://127.0.0.1:${tls}/`);
    expect(networkProblem(untrusted)).toMatchObject({
      code: "DEPTH_ZERO_SELF_SIGNED_CERT",
      tls: "certificate",
    });
    const hinted = networkError(untrusted, `https://127.0.0.1:${tls}`, {
      tlsHints: { certificate: "Give its CA with --src-ca <file>." },
    });
    expect(hinted?.message).toBe(
      `cannot reach https://127.0.0.1:${tls}: its TLS certificate is self-signed (DEPTH_ZERO_SELF_SIGNED_CERT)`,
    );
    expect(hinted?.hint).toBe("Give its CA with --src-ca <file>.");
    // Trusted, but asked for under another name than the certificate's.
    const wrongName = await httpsError(`https://localhost:${tls}/`, { ca: cert });
    expect(networkProblem(wrongName)).toMatchObject({ code: "ERR_TLS_CERT_ALTNAME_INVALID" });
    expect(networkProblem(wrongName)?.problem).toMatch(/for another host name/);
    // A real answer is no problem.
    expect(await httpsError(`https://127.0.0.1:${tls}/`, { ca: cert })).toBeUndefined();
  });

  it("reads the codes a machine without DNS or a bad clock would give, and leaves other errors alone", () => {
    // These cannot be provoked reliably here (no resolver, no expired certificate): their shapes.
    const sys = (code: string) => Object.assign(new Error(`connect ${code}`), { code });
    const wrapped = (code: string) => new TypeError("fetch failed", { cause: sys(code) });
    expect(networkProblem(wrapped("ENOTFOUND"))?.problem).toMatch(/does not resolve \(ENOTFOUND\)/);
    expect(networkProblem(wrapped("ETIMEDOUT"))?.problem).toMatch(/timed out/);
    expect(networkProblem(wrapped("ECONNRESET"))?.problem).toMatch(/closed the connection/);
    expect(networkProblem(wrapped("CERT_HAS_EXPIRED"))).toMatchObject({ tls: "certificate" });
    expect(networkProblem(wrapped("SELF_SIGNED_CERT_IN_CHAIN"))?.problem).toMatch(/self-signed authority/);
    expect(networkProblem(wrapped("UNABLE_TO_VERIFY_LEAF_SIGNATURE"))?.problem).toMatch(/not signed by/);
    // node:net tries every address of a name: an AggregateError of the attempts.
    expect(networkProblem(new AggregateError([sys("ECONNREFUSED"), sys("ECONNREFUSED")]))?.code).toBe(
      "ECONNREFUSED",
    );
    for (const other of [new Error("boom"), "text", undefined, { code: "__proto__" }, { code: "toString" }]) {
      expect(networkProblem(other)).toBeUndefined();
    }
    // A cause chain that loops ends.
    const loop = new Error("a") as Error & { cause?: unknown };
    loop.cause = loop;
    expect(networkProblem(loop)).toBeUndefined();
  });
});
