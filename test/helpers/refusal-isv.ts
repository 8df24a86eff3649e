import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { cliEnv, reservePort, runCli, type CliRun } from "./cli.js";
import { publishedFiles } from "./storage-files.js";

/**
 * An ISV on the embedded default (local storage, local app remote), set up once with
 * --no-start in a fresh work directory, for tests that push inputs raas must refuse: what they
 * check did not move is the app remote's head and what reached storage.
 */
export interface RefusalIsv {
  readonly name: string;
  readonly work: string;
  readonly env: NodeJS.ProcessEnv;
  /** The ISV's local storage directory. */
  readonly storage: string;
  /** The raas CLI, in process, in the work directory. */
  raas(...args: string[]): Promise<CliRun>;
  /** The app remote's HEAD commit. */
  head(): string;
  /** What storage holds besides blobs and the registry's own state (dot paths): manifests, tags. */
  published(): Promise<string[]>;
  remove(): Promise<void>;
}

export async function setUpRefusalIsv(name: string): Promise<RefusalIsv> {
  const work = await mkdtemp(join(tmpdir(), `raas-${name}-`));
  const env = cliEnv(join(work, "home"));
  const home = join(work, "home", "raas");
  await reservePort(home, name);
  const raas = (...args: string[]) => runCli(args, { cwd: work, env });
  const setup = await raas("setup", name, "--no-start");
  expect(setup.code, setup.stdout + setup.stderr).toBe(0);
  const storage = join(home, name, "storage");
  const remote = join(home, name, "app.git");
  return {
    name,
    work,
    env,
    storage,
    raas,
    head: () => execFileSync("git", ["--git-dir", remote, "rev-parse", "HEAD"], { encoding: "utf8" }).trim(),
    published: async () =>
      (await publishedFiles(storage)).filter(
        (f) => !f.startsWith(".") && !f.includes("/.") && !f.includes("/blobs/"),
      ),
    remove: () => rm(work, { recursive: true, force: true }),
  };
}
