// nginx serving one manifest as a static file: the ceiling the registry benchmarks compare with.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { freePort, startProcess, waitFor } from "./procs.mjs";

/**
 * Start Debian's nginx under `work` with `workers` worker processes, serving `manifest` at
 * `/manifest` with `contentType`, access log on. Returns its base URL, pid and a stop function.
 */
export async function startNginx(work, manifest, contentType, workers = "auto") {
  const port = await freePort();
  const prefix = path.join(work, `nginx-${workers}`);
  const www = path.join(prefix, "www");
  mkdirSync(www, { recursive: true });
  writeFileSync(path.join(www, "manifest"), manifest);
  const conf = path.join(prefix, "nginx.conf");
  const temp = (name) => `  ${name}_temp_path ${path.join(prefix, name)};`;
  writeFileSync(
    conf,
    [
      "daemon off;",
      `worker_processes ${workers};`,
      `pid ${path.join(prefix, "nginx.pid")};`,
      `error_log ${path.join(prefix, "error.log")} error;`,
      "events { worker_connections 1024; }",
      "http {",
      `  access_log ${path.join(prefix, "access.log")};`,
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(temp),
      "  keepalive_requests 100000;",
      `  server { listen 127.0.0.1:${port}; root ${www}; location / { default_type ${contentType}; } }`,
      "}",
      "",
    ].join("\n"),
  );
  const proc = startProcess("/usr/sbin/nginx", ["-p", prefix, "-c", conf], path.join(prefix, "nginx.out"));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/manifest`, { expect: 200, what: "nginx" });
  return { url, pid: proc.child.pid, stop: () => proc.stop() };
}
