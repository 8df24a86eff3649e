/**
 * What a user reads when a docker:// source cannot be reached, through the real CLI against real
 * local servers: a plain HTTP server addressed over TLS, a port nothing listens on, and a TLS
 * server whose certificate raas does not trust. Each names the endpoint and the problem in words,
 * with the flag that fixes it; none shows Node's raw text.
 */
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { cliEnv, reservePort, runCli } from "../helpers/cli.js";
import { freePort } from "../helpers/free-port.js";
import { tempDir } from "../helpers/git.js";
import { selfSignedCert } from "../helpers/tls.js";

const ISV = "neterr";

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

describe("unreachable docker:// sources", () => {
  it("name the endpoint and the problem, with a hint, for each kind of failure", async () => {
    const work = await tempDir("raas-net-e2e-");
    const env = cliEnv(join(work, "home"));
    await reservePort(join(work, "home", "raas"), ISV);
    const raas = (...args: string[]) => runCli(args, { cwd: work, env });
    const setup = await raas("setup", ISV, "--no-start");
    expect(setup.code, setup.stdout + setup.stderr).toBe(0);

    const plain = await listen(createHttpServer((_req, res) => res.end("hello")));
    const refused = await freePort();
    const { certPath, keyPath } = await selfSignedCert(work);
    const tls = await listen(
      createHttpsServer({ cert: await readFile(certPath), key: await readFile(keyPath) }, (_req, res) =>
        res.end("ok"),
      ),
    );
    const cases: [port: number, message: RegExp, hint: RegExp][] = [
      [plain, /does not speak TLS on that port .*\(EPROTO\)/, /--src-tls-verify false/],
      [refused, /connection refused: nothing listens on that port \(ECONNREFUSED\)/, /host and port/],
      [tls, /its TLS certificate is self-signed \(DEPTH_ZERO_SELF_SIGNED_CERT\)/, /--src-ca <file>/],
    ];
    for (const [port, message, hint] of cases) {
      const run = await raas("push", ISV, `docker://127.0.0.1:${port}/team/app:1.0`, "--no-wait");
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toContain(`cannot reach 127.0.0.1:${port}: `);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).toMatch(new RegExp(`^hint: .*${hint.source}`, "m"));
      expect(run.stderr).not.toMatch(
        /wrong version number|ssl3_get_record|connect ECONNREFUSED|internal error/,
      );
    }
  });
});
