import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { METADATA_GOOD } from "../../src/crane/testing/crane-fixtures.js";
import { startRegistryServer, type LogRecord, type RunningRegistry } from "../../src/server/start.js";
import { makeAppRepo, type AppRepo } from "../../src/server/testing/fixture.js";

export interface CraneServer {
  repo: AppRepo;
  server: RunningRegistry;
  logs: LogRecord[];
  stop(): Promise<void>;
}

/** A registry over Crane's `metadata_good` fixtures, with `extra` appended to its config. */
export async function startCraneServer(extra: string): Promise<CraneServer> {
  const repo = await makeAppRepo(() => `[general]\ndata_dir: data\nendpoint: localhost:5000\n${extra}`);
  for (const [name, content] of Object.entries(METADATA_GOOD)) {
    await writeFile(join(repo.dataDir, name), JSON.stringify(content));
  }
  const logs: LogRecord[] = [];
  const server = await startRegistryServer({
    configPath: repo.configPath,
    host: "127.0.0.1",
    port: 0,
    log: (r) => logs.push(r),
  });
  return {
    repo,
    server,
    logs,
    stop: async () => {
      await server.close();
      await repo.cleanup();
    },
  };
}

export interface Peer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP server standing in for a service that cannot run here (a Google Search
 * Appliance, a Solr index): it answers with whatever `handle` writes and records request URLs.
 */
export async function startPeer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<Peer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? "");
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
