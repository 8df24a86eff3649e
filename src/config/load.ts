/**
 * Find and load raas.cfg. Lookup order: an explicit path, `<cwd>/raas.cfg`, the git config
 * repository named by RAAS_CONF_REPO (branch = the config environment, default `stage`),
 * else the built-in defaults (local storage and a local platform under RAAS_HOME).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { InputError, UsageError, UserError, errorMessage } from "../errors.js";
import { clone } from "../adapters/git.js";
import { redactUrl } from "../adapters/git-errors.js";
import { buildConfig, flagProblems, type Env, type Problems } from "./build.js";
import { parseIni, type Sections } from "../crane/ini.js";
import type { ConfigFlags, ConfigSource, LoadedConfig } from "./types.js";
import { BadValue, branch as parseBranch } from "./values.js";

export const CONFIG_FILE = "raas.cfg";
export const DEFAULT_CONFIG_ENV = "stage";

export interface LoadConfigOptions {
  cwd: string;
  env: Env;
  /** `--config`: must exist. */
  configPath?: string;
  /** `--configenv`: the config repository branch. */
  configEnv?: string;
  flags?: ConfigFlags;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UserError(`cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

async function cloneConfigRepo(url: string, configEnv: string): Promise<{ dir: string; text: string }> {
  try {
    parseBranch(configEnv);
  } catch (err) {
    if (err instanceof BadValue) throw new UserError(`config environment: ${err.message}`, { exitCode: 2 });
    throw err;
  }
  const dir = await mkdtemp(path.join(tmpdir(), "raas-conf-"));
  try {
    await clone(url, dir, { branch: configEnv, depth: 1 });
    const text = await readIfExists(path.join(dir, CONFIG_FILE));
    if (text === undefined) {
      throw new UserError(
        `the config repository ${redactUrl(url)} (branch ${configEnv}) has no ${CONFIG_FILE}`,
        {
          hint: `Commit a ${CONFIG_FILE} (see raas.cfg.template) to that branch.`,
        },
      );
    }
    return { dir, text };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function locate(
  options: LoadConfigOptions,
  warnings: string[],
): Promise<{ source: ConfigSource; text?: string }> {
  if (options.configPath !== undefined) {
    const file = path.resolve(options.cwd, options.configPath);
    const text = await readIfExists(file);
    if (text === undefined) throw new UserError(`config file ${file} does not exist`, { code: "NO_CONFIG" });
    return { source: { kind: "file", file }, text };
  }
  const local = path.join(options.cwd, CONFIG_FILE);
  const localText = await readIfExists(local);
  if (localText !== undefined) return { source: { kind: "file", file: local }, text: localText };
  const url = options.env.RAAS_CONF_REPO;
  if (url !== undefined && url !== "") {
    const branch = options.configEnv ?? DEFAULT_CONFIG_ENV;
    const { dir, text } = await cloneConfigRepo(url, branch);
    return {
      source: { kind: "conf-repo", file: path.join(dir, CONFIG_FILE), repo: { url, branch, dir } },
      text,
    };
  }
  if (options.configEnv !== undefined) warnings.push("--configenv has no effect without RAAS_CONF_REPO");
  return { source: { kind: "defaults" } };
}

export async function loadConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  const badFlags = flagProblems(options.flags ?? {}, options.cwd);
  if (badFlags.length > 0) {
    throw new UsageError(badFlags.join("; "), { hint: "Run `raas --help` for the accepted values." });
  }
  const problems: Problems = { errors: [], warnings: [] };
  const { source, text } = await locate(options, problems.warnings);
  const file = source.kind === "defaults" ? undefined : source.file;
  const sections: Sections = text === undefined ? {} : parseIni(text, (m) => problems.errors.push(m));
  const config = buildConfig(
    {
      sections,
      baseDir: file === undefined ? options.cwd : path.dirname(file),
      cwd: options.cwd,
      env: options.env,
      flags: options.flags ?? {},
    },
    problems,
  );
  if (problems.errors.length > 0) {
    const where = file ?? "configuration";
    const list = problems.errors.map((e) => `  - ${e}`).join("\n");
    const count = problems.errors.length === 1 ? "1 problem" : `${problems.errors.length} problems`;
    throw new InputError(where, `invalid configuration, ${count}:\n${list}`, {
      code: "BAD_CONFIG",
      hint: "raas.cfg.template documents every option.",
    });
  }
  const warnings = problems.warnings.map((w) => (file === undefined ? w : `${file}: ${w}`));
  return { ...config, source, warnings };
}

/** Remove the temporary clone of the config repository, if this config came from one. */
export async function disposeConfig(config: LoadedConfig): Promise<void> {
  if (config.source.kind === "conf-repo") await rm(config.source.repo.dir, { recursive: true, force: true });
}
