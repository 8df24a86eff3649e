/**
 * `setup` records an ISV's choices (--s3bucket, --oodomain, --ooapp) the first time it sees
 * the ISV, so later commands find them without flags: as an `[<isv>]` section appended to
 * the raas.cfg in use (a file, or the configuration repository's clone, which the run then
 * commits), or — running on built-in defaults, where there is no file to own — in
 * `$RAAS_HOME/<isv>/setup.json`.
 */
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { safe } from "ini";
import { writeFileAtomic } from "../adapters/files.js";
import type { IsvSection, LoadedConfig } from "./types.js";
import { BadValue, bucket as parseBucket, dnsLabel } from "./values.js";
import { UsageError } from "../errors.js";
import { isJsonObject } from "../image/records.js";

export interface IsvChoices {
  s3bucket?: string;
  oodomain?: string;
  ooapp?: string;
}

/** Validate the flags and merge them over the section raas.cfg (or the remembered state) has. */
export function applyChoices(section: IsvSection, choices: IsvChoices): IsvSection {
  const check = (parse: (raw: string) => unknown, raw: string | undefined, flag: string) => {
    if (raw === undefined) return;
    try {
      parse(raw);
    } catch (err) {
      if (err instanceof BadValue) throw new UsageError(`${flag}: ${err.message}`);
      throw err;
    }
  };
  check(parseBucket, choices.s3bucket, "--s3bucket");
  check(dnsLabel, choices.oodomain, "--oodomain");
  check(dnsLabel, choices.ooapp, "--ooapp");
  return {
    ...section,
    ...(choices.s3bucket === undefined ? {} : { s3Bucket: choices.s3bucket }),
    ...(choices.oodomain === undefined ? {} : { openshiftDomain: choices.oodomain }),
    ...(choices.ooapp === undefined ? {} : { openshiftApp: choices.ooapp }),
  };
}

function stateFile(config: LoadedConfig, isv: string): string {
  return path.join(config.stateDir, isv, "setup.json");
}

/** What an earlier setup on built-in defaults remembered for this ISV. */
export async function rememberedChoices(config: LoadedConfig, isv: string): Promise<IsvChoices> {
  if (config.source.kind !== "defaults") return {};
  try {
    const value: unknown = JSON.parse(await readFile(stateFile(config, isv), "utf8"));
    if (!isJsonObject(value)) return {};
    const pick = (key: string) => (typeof value[key] === "string" ? { [key]: value[key] } : {});
    return { ...pick("s3bucket"), ...pick("oodomain"), ...pick("ooapp") };
  } catch {
    return {};
  }
}

/**
 * Record the choices on first use. Returns where they were written, or undefined when the ISV
 * already had a section (then raas.cfg stays the operator's: nothing is rewritten).
 */
export async function recordIsvSection(
  config: LoadedConfig,
  isv: string,
  choices: IsvChoices,
  resolved: { storage: "local" | "s3"; bucket?: string },
): Promise<string | undefined> {
  const values: [string, string][] = [];
  const bucket = choices.s3bucket ?? (resolved.storage === "s3" ? resolved.bucket : undefined);
  if (bucket !== undefined) values.push(["s3_bucket", bucket]);
  if (choices.oodomain !== undefined) values.push(["openshift_domain", choices.oodomain]);
  if (choices.ooapp !== undefined) values.push(["openshift_app", choices.ooapp]);
  if (config.source.kind === "defaults") {
    if (Object.keys(choices).length === 0) return undefined;
    const file = stateFile(config, isv);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(choices, null, 2)}\n`, { mode: 0o600 });
    return file;
  }
  if (config.isvs[isv] !== undefined) return undefined;
  const file = config.source.file;
  const current = await readFile(file, "utf8");
  // raas.cfg may hold keys ([aws], [openshift] token): the rewrite keeps the operator's mode.
  const { mode } = await stat(file);
  const lines = [`[${isv}]`, ...values.map(([key, value]) => `${key} = ${safe(value)}`)];
  const separator = current === "" || current.endsWith("\n\n") ? "" : current.endsWith("\n") ? "\n" : "\n\n";
  await writeFileAtomic(file, `${current}${separator}# Added by raas setup ${isv}\n${lines.join("\n")}\n`, {
    mode: mode & 0o777,
  });
  return file;
}
