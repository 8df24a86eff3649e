/**
 * Local-platform ports: each ISV gets one, chosen once (the first free port from 5000 that no
 * other ISV holds) and remembered in stateDir/<isv>/platform.json so its URL never changes.
 */
import { mkdir, readFile, readdir } from "node:fs/promises";
import { createServer } from "node:net";
import * as path from "node:path";
import { writeFileAtomic } from "../adapters/files.js";
import { UserError } from "../errors.js";
import { isJsonObject } from "../image/records.js";

export const FIRST_PORT = 5000;
const LAST_PORT = 5999;

interface PlatformState {
  port: number;
}

async function readState(file: string): Promise<PlatformState | undefined> {
  try {
    const data: unknown = JSON.parse(await readFile(file, "utf8"));
    const port = isJsonObject(data) ? data.port : undefined;
    return typeof port === "number" && Number.isInteger(port) && port > 0 && port < 65536
      ? { port }
      : undefined;
  } catch {
    return undefined;
  }
}

export function platformStateFile(stateDir: string, isv: string): string {
  return path.join(stateDir, isv, "platform.json");
}

function isFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

async function portsHeldByOthers(stateDir: string, isv: string): Promise<Set<number>> {
  const held = new Set<number>();
  const entries = await readdir(stateDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name === isv) continue;
    const state = await readState(platformStateFile(stateDir, entry.name));
    if (state !== undefined) held.add(state.port);
  }
  return held;
}

/** The ISV's remembered port, or undefined when none was ever allocated (nothing is written). */
export async function knownPort(stateDir: string, isv: string): Promise<number | undefined> {
  return (await readState(platformStateFile(stateDir, isv)))?.port;
}

/** The ISV's remembered port, allocating and recording one on first use. */
export async function allocatePort(stateDir: string, isv: string, host = "127.0.0.1"): Promise<number> {
  const file = platformStateFile(stateDir, isv);
  const known = await readState(file);
  if (known !== undefined) return known.port;
  const held = await portsHeldByOthers(stateDir, isv);
  for (let port = FIRST_PORT; port <= LAST_PORT; port++) {
    if (held.has(port) || !(await isFree(port, host))) continue;
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, `${JSON.stringify({ port }, null, 2)}\n`);
    return port;
  }
  throw new UserError(`no free port between ${FIRST_PORT} and ${LAST_PORT} on ${host} for ${isv}`, {
    hint: `Set port = <n> in the [${isv}] section of raas.cfg.`,
  });
}
