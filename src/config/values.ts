/**
 * Parsers for configuration values. Each takes the raw string (as ini, the environment or a
 * flag gives it) and returns the typed value or throws BadValue with a short reason; callers
 * prefix the reason with where the value came from and collect every problem before failing.
 */
import { parseBoolean } from "../crane/ini.js";
import { ownEntry } from "../image/records.js";

export class BadValue extends Error {}

export type Parser<T> = (raw: string) => T;

export function oneOf<T extends string>(...allowed: T[]): Parser<T> {
  return (raw) => {
    const value = raw.trim().toLowerCase();
    if ((allowed as string[]).includes(value)) return value as T;
    throw new BadValue(`${JSON.stringify(raw)} is not one of ${allowed.join(", ")}`);
  };
}

export const bool: Parser<boolean> = (raw) => {
  const value = parseBoolean(raw);
  if (value === undefined) {
    throw new BadValue(`${JSON.stringify(raw)} is not a boolean (true/false, yes/no, on/off, 1/0)`);
  }
  return value;
};

export function integer(min: number, max: number, what = "an integer"): Parser<number> {
  return (raw) => {
    const value = raw.trim();
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new BadValue(`${JSON.stringify(raw)} is not ${what} between ${min} and ${max}`);
    }
    return Number(value);
  };
}

export const port: Parser<number> = integer(1, 65535, "a TCP port");

// K, M, G and the IEC KiB, MiB, GiB are binary; KB, MB, GB are decimal, as they say.
const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
};

export function size(min: number, max: number): Parser<number> {
  return (raw) => {
    const match = /^(\d+)\s*([a-z]*)$/i.exec(raw.trim());
    const unit = ownEntry(UNITS, match?.[2]?.toLowerCase() ?? "?");
    if (match == null || unit === undefined) {
      throw new BadValue(
        `${JSON.stringify(raw)} is not a size (bytes, or a number with K/KiB/KB, M/MiB/MB, G/GiB/GB)`,
      );
    }
    const bytes = Number(match[1]) * unit;
    if (bytes < min || bytes > max) {
      throw new BadValue(`${JSON.stringify(raw)} is outside ${formatSize(min)}..${formatSize(max)}`);
    }
    return bytes;
  };
}

export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}

export const httpUrl: Parser<string> = (raw) => {
  const value = raw.trim();
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new BadValue(`${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new BadValue(`${JSON.stringify(raw)} is not an http or https URL`);
  }
  return value.replace(/\/+$/, "");
};

export const text: Parser<string> = (raw) => {
  const value = raw.trim();
  if (value === "") throw new BadValue("is empty");
  return value;
};

/** Items separated by commas, spaces or newlines (the original tool's mask_layers format). */
export function list<T>(item: Parser<T>): Parser<T[]> {
  return (raw) => {
    const items = raw.split(/[\s,]+/).filter((part) => part !== "");
    const bad: string[] = [];
    const out: T[] = [];
    for (const part of items) {
      try {
        out.push(item(part));
      } catch {
        bad.push(part);
      }
    }
    if (bad.length > 0) {
      throw new BadValue(`invalid item(s): ${bad.map((b) => JSON.stringify(b)).join(", ")}`);
    }
    return [...new Set(out)];
  };
}

/**
 * Repository name prefixes (`[push] write_once_tags`): each a repository name, or one followed by
 * a slash (every repository under it), in the distribution spec's name grammar.
 */
export const repositoryPrefixes: Parser<string[]> = list((raw) => {
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\/?$/.test(raw)) {
    throw new BadValue(`${JSON.stringify(raw)} is not a repository name or prefix`);
  }
  return raw;
});

/** A masked layer: a v1 image id (64 hex) or a layer digest (sha256:<64 hex>). */
export const layerId: Parser<string> = (raw) => {
  const value = raw.trim().toLowerCase();
  if (!/^(sha256:)?[a-f0-9]{64}$/.test(value)) throw new BadValue(`${JSON.stringify(raw)} is not a layer id`);
  return value;
};

// The original tool's rule, which also keeps bucket names usable in virtual-host URLs.
export const bucket: Parser<string> = (raw) => {
  const value = raw.trim();
  if (!/^[a-z0-9._-]{3,63}$/.test(value)) {
    throw new BadValue(`${JSON.stringify(raw)} is not a bucket name (3-63 of a-z, 0-9, ".", "-", "_")`);
  }
  return value;
};

export const branch: Parser<string> = (raw) => {
  const value = raw.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$/.test(value) || value.includes("..") || value.endsWith(".lock")) {
    throw new BadValue(`${JSON.stringify(raw)} is not a usable git branch name`);
  }
  return value;
};

/** A Kubernetes namespace or object name (DNS-1123 label). */
export const dnsLabel: Parser<string> = (raw) => {
  const value = raw.trim();
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value)) {
    throw new BadValue(`${JSON.stringify(raw)} is not a DNS label (lower-case letters, digits and "-")`);
  }
  return value;
};

export const region: Parser<string> = (raw) => {
  const value = raw.trim();
  if (!/^[a-z0-9][a-z0-9-]{0,49}$/.test(value)) {
    throw new BadValue(`${JSON.stringify(raw)} is not a region name`);
  }
  return value;
};

/** A lifecycle environment: 1-16 lower-case letters and digits, starting with a letter. */
export const environmentName: Parser<string> = (raw) => {
  const value = raw.trim();
  if (!isEnvironmentName(value)) {
    throw new BadValue(
      `${JSON.stringify(raw)} is not an environment name (1-16 lower-case letters and digits, starting with a letter)`,
    );
  }
  return value;
};

export function isEnvironmentName(name: string): boolean {
  return /^[a-z][a-z0-9]{0,15}$/.test(name);
}
