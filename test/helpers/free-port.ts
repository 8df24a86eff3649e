import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Ports this process has handed out already. */
const handedOut = new Set<number>();

/** Lowest port tests hand out; below it live well-known and registered services. */
const LOWEST = 10_000;
/** Slices of the range: one per test worker process (vitest's maxWorkers is well below this). */
const SLICES = 8;

/**
 * A loopback port free right now, below the kernel's ephemeral range. Tests name their ports
 * with it instead of letting raas probe from 5000 up, which races a running demo and test files
 * run side by side.
 *
 * Why not the port the OS hands out for `listen(0)`: that port comes from the ephemeral range,
 * and between this helper closing it and the test's server binding it, the kernel can give the
 * same port to any outgoing connection on the machine (a client's local port) or to another
 * `listen(0)`; the server then fails with "port used by another program" (seen in CI, with
 * skopeo, git and S3 clients connecting side by side). Below the ephemeral range the kernel never
 * assigns a port on its own, so only an explicit bind can take it. Each vitest worker process
 * draws from its own slice of that range (VITEST_POOL_ID), so two test files running side by side
 * never pick the same port, and a port is never handed out twice in one process (two
 * environments of one ISV ask in a row, before either listens).
 */
export async function freePort(): Promise<number> {
  const [low, high] = slice();
  const size = high - low;
  const start = Math.floor(Math.random() * size);
  for (let i = 0; i < size; i++) {
    const port = low + ((start + i) % size);
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free loopback port in ${low}-${high - 1}`);
}

/** This process's slice [low, high) of the ports below the ephemeral range. */
function slice(): [number, number] {
  const top = ephemeralLow();
  const width = Math.floor((top - LOWEST) / SLICES);
  const pool = Number(process.env.VITEST_POOL_ID);
  const index = Number.isInteger(pool) && pool > 0 ? (pool - 1) % SLICES : process.pid % SLICES;
  const low = LOWEST + index * width;
  return [low, low + width];
}

/** The first port of the kernel's ephemeral range (Linux default 32768). */
function ephemeralLow(): number {
  try {
    const first = Number(
      readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0],
    );
    if (Number.isInteger(first) && first > LOWEST + SLICES * 100) return first;
  } catch {
    // not Linux, or no /proc: the common default
  }
  return 32_768;
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}
