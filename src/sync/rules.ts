import { emptyRecord } from "../image/records.js";
import { UserError } from "../errors.js";
import { isRepositoryName, isTag } from "../image/names.js";

/**
 * Original names and tag rules: pure functions over plain data, shared by `raas push` (flags)
 * and `raas sync` (the specification file).
 */

/** How an upstream repository name becomes the published name. */
export interface NameRule {
  /** Publish under exactly this name. */
  name?: string;
  /**
   * Original-name mode: strip the shortest leading part matching this glob
   * (`examplecorp-*-` strips `examplecorp-docker_io-`)...
   */
  stripPrefix?: string;
  /** ...then read the first occurrence of this string as the "/" it stood for (`_`). */
  slash?: string;
}

export interface TagRules {
  /** Globs (`*`, `?`) a tag must match to be considered; default every tag. */
  include: string[];
  /** Globs that exclude a tag even when included. */
  exclude: string[];
  /** Upstream tag -> published tag (`13-test` -> `latest-test`). */
  rename: Record<string, string>;
  /**
   * What happens to a tag raas has not published yet: `auto` publishes it, `manual` holds it
   * until it is listed in `approve`. Tags already published are always kept up to date.
   */
  newTags: "auto" | "manual";
  /** Tags (upstream names) approved for publication under `newTags: manual`. */
  approve: string[];
}

export const DEFAULT_TAG_RULES: TagRules = {
  include: ["*"],
  exclude: [],
  rename: {},
  newTags: "auto",
  approve: [],
};

export type TagDecision =
  { action: "publish"; tag: string; as: string } | { action: "skip"; tag: string; reason: string };

const GLOB_LIMIT = 256;

function checkGlob(glob: string): void {
  if (glob.length === 0 || glob.length > GLOB_LIMIT) {
    throw new UserError(`pattern ${JSON.stringify(glob.slice(0, 80))} must be 1 to ${GLOB_LIMIT} characters`);
  }
}

/**
 * A glob over a whole string: `*` any run of characters, `?` one character, the rest literal.
 * Matched with the classic two-pointer walk (backtrack only to the last star), so the cost is
 * at most pattern length x value length whatever the pattern: no regular expression to blow up.
 */
export function globMatch(glob: string, value: string): boolean {
  checkGlob(glob);
  let p = 0;
  let v = 0;
  let star = -1;
  let mark = 0;
  while (v < value.length) {
    if (p < glob.length && (glob[p] === "?" || (glob[p] !== "*" && glob[p] === value[v]))) {
      p++;
      v++;
    } else if (p < glob.length && glob[p] === "*") {
      star = p++;
      mark = v;
    } else if (star >= 0) {
      p = star + 1;
      v = ++mark;
    } else {
      return false;
    }
  }
  while (p < glob.length && glob[p] === "*") p++;
  return p === glob.length;
}

/** The published name for an upstream repository name, checked against the name grammar. */
export function mapName(source: string, rule: NameRule): string {
  let name = source;
  if (rule.name !== undefined) {
    name = rule.name;
  } else if (rule.stripPrefix !== undefined) {
    const glob = rule.stripPrefix;
    let stripped: string | undefined;
    for (let end = 1; end <= name.length; end++) {
      if (globMatch(glob, name.slice(0, end))) {
        stripped = name.slice(end);
        break;
      }
    }
    if (stripped === undefined) {
      throw new UserError(
        `repository ${source} does not start with the prefix pattern ${JSON.stringify(glob)}`,
        {
          hint: "Fix stripPrefix in the rules, or give the published name explicitly with name.",
        },
      );
    }
    name = stripped;
    if (rule.slash !== undefined && rule.slash !== "") name = name.replace(rule.slash, "/");
  }
  if (!isRepositoryName(name)) {
    throw new UserError(
      `repository ${source} maps to ${JSON.stringify(name)}, which is not a valid repository name`,
      {
        hint: "Adjust the name rule (name, stripPrefix, slash).",
      },
    );
  }
  return name;
}

/**
 * Decides what happens to one upstream tag. `published` says whether raas already publishes
 * the (renamed) tag, which matters under `newTags: manual`.
 */
export function decideTag(tag: string, rules: TagRules, published: (as: string) => boolean): TagDecision {
  if (!rules.include.some((g) => globMatch(g, tag))) return { action: "skip", tag, reason: "not included" };
  const excludedBy = rules.exclude.find((g) => globMatch(g, tag));
  if (excludedBy !== undefined) return { action: "skip", tag, reason: `excluded by ${excludedBy}` };
  const as = Object.hasOwn(rules.rename, tag) ? (rules.rename[tag] ?? tag) : tag;
  if (!isTag(as)) return { action: "skip", tag, reason: `renamed to ${JSON.stringify(as)}, not a valid tag` };
  if (rules.newTags === "manual" && !published(as) && !rules.approve.includes(tag)) {
    return { action: "skip", tag, reason: "new tag held for manual publication (add it to approve)" };
  }
  return { action: "publish", tag, as };
}

/** Applies decideTag to every tag; two upstream tags renamed onto one published tag is an error. */
export function planTags(
  tags: readonly string[],
  rules: TagRules,
  published: (as: string) => boolean,
): TagDecision[] {
  const decisions = [...tags].sort().map((t) => decideTag(t, rules, published));
  const seen = new Map<string, string>();
  for (const d of decisions) {
    if (d.action !== "publish") continue;
    const other = seen.get(d.as);
    if (other !== undefined) {
      throw new UserError(`tags ${other} and ${d.tag} would both be published as ${d.as}`, {
        hint: "Exclude one of them or rename it to something else.",
      });
    }
    seen.set(d.as, d.tag);
  }
  return decisions;
}

/** `from=to` pairs from the command line. */
export function parseRenames(pairs: readonly string[]): Record<string, string> {
  // Keys are tags from the command line: no prototype, so `__proto__` is a tag like any other.
  const renames: Record<string, string> = emptyRecord<string>();
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const from = pair.slice(0, eq);
    const to = pair.slice(eq + 1);
    if (eq <= 0 || !isTag(from) || !isTag(to)) {
      throw new UserError(`--rename-tag ${JSON.stringify(pair)} must be <tag>=<new tag>, both valid tags`, {
        exitCode: 2,
        code: "USAGE",
      });
    }
    // The same tag renamed twice: which one was meant is not for raas to guess.
    if (Object.hasOwn(renames, from) && renames[from] !== to) {
      throw new UserError(`--rename-tag renames ${from} twice, to ${renames[from] ?? ""} and to ${to}`, {
        exitCode: 2,
        code: "USAGE",
        hint: "Give one --rename-tag per source tag.",
      });
    }
    renames[from] = to;
  }
  return renames;
}
