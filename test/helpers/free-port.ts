import { createServer } from "node:net";

/** Ports this process has handed out already: the OS may offer a port again once it is closed. */
const handedOut = new Set<number>();

/**
 * A loopback port free right now, handed out by the OS. Tests name their ports with it instead
 * of letting raas probe from 5000 up, which races a running demo and test files run side by side.
 * A port is never handed out twice in one process: two calls in a row (two environments of one
 * ISV, say) could otherwise get the same port, because nothing listens on it yet.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await osPort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function osPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}
