import { createServer } from "node:net";

/**
 * A loopback port free right now, handed out by the OS. Tests name their ports with it instead
 * of letting raas probe from 5000 up, which races a running demo and test files run side by side.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}
