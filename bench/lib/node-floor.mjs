// The floor of any Node.js registry on this machine: node:http on every core (node:cluster, one
// worker per usable CPU, the same process model as the raas server), answering every request
// with the same manifest bytes and the same headers raas sends, and nothing else: no routing, no
// metadata, no access log, no metrics. Run as `node node-floor.mjs <port> <manifest file>
// <media type>`; bench/server.mjs measures it in the same rounds as raas and nginx, started with
// the V8 flags raas gives its workers (node:cluster's workers inherit them).
import cluster from "node:cluster";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { availableParallelism } from "node:os";

const [port = "0", file = "", mediaType = ""] = process.argv.slice(2);

if (cluster.isPrimary) {
  for (let i = 0; i < availableParallelism(); i++) cluster.fork();
  cluster.on("exit", (_worker, code, signal) => {
    if (signal !== "SIGTERM") process.exitCode = code ?? 1;
  });
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill("SIGTERM");
  });
} else {
  const body = readFileSync(file);
  const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  const headers = {
    "Docker-Distribution-API-Version": "registry/2.0",
    "Content-Type": mediaType,
    "Content-Length": body.length,
    "Docker-Content-Digest": digest,
    ETag: `"${digest}"`,
  };
  const server = createServer({ keepAliveTimeout: 0 }, (_req, res) => {
    res.writeHead(200, headers);
    res.end(body);
  });
  server.listen(Number(port), "127.0.0.1");
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}
