/**
 * A reader for the restricted YAML raas's own templates use (templates/app/openshift), so the
 * rendered manifests can go to the Kubernetes API as JSON without a YAML dependency: block
 * mappings and sequences, plain/single-/double-quoted scalars, flow sequences of scalars,
 * `#` comments. Anything else (anchors, multi-documents, block scalars, flow mappings) is
 * refused with the line, never guessed at.
 */
export type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };

export class YamlSubsetError extends Error {}

interface Line {
  indent: number;
  text: string;
  no: number;
}

function stripComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#" && (i === 0 || text[i - 1] === " ")) return text.slice(0, i).trimEnd();
  }
  return text.trimEnd();
}

function scalar(raw: string, where: string): Yaml {
  const text = raw.trim();
  if (text.startsWith('"')) {
    if (!text.endsWith('"') || text.length < 2) throw new YamlSubsetError(`${where}: unterminated string`);
    return JSON.parse(text) as string;
  }
  if (text.startsWith("'")) {
    if (!text.endsWith("'") || text.length < 2) throw new YamlSubsetError(`${where}: unterminated string`);
    return text.slice(1, -1).replaceAll("''", "'");
  }
  if (text.startsWith("[")) {
    if (!text.endsWith("]")) throw new YamlSubsetError(`${where}: unterminated flow sequence`);
    const inner = text.slice(1, -1).trim();
    return inner === "" ? [] : inner.split(",").map((item) => scalar(item, where));
  }
  if (/^[{&*!|>%@`]/.test(text)) throw new YamlSubsetError(`${where}: unsupported YAML syntax ${text}`);
  if (text === "true" || text === "false") return text === "true";
  if (text === "null" || text === "~" || text === "") return null;
  if (/^-?(0|[1-9]\d*)$/.test(text)) return Number(text);
  return text;
}

/** `key: value` split at the first `: ` outside quotes, or undefined when the line is no pair. */
function splitPair(text: string): [string, string] | undefined {
  const match = /^([A-Za-z0-9_./-]+):(?:\s+(.*))?$/.exec(text);
  return match === null ? undefined : [match[1] as string, match[2] ?? ""];
}

export function parseYamlSubset(source: string, file: string): Yaml {
  const lines: Line[] = [];
  source.split("\n").forEach((raw, i) => {
    if (raw.includes("\t")) throw new YamlSubsetError(`${file}:${i + 1}: tabs are not allowed`);
    const text = stripComment(raw);
    if (text.trim() === "") return;
    if (text.trim() === "---" || text.trim() === "...") {
      throw new YamlSubsetError(`${file}:${i + 1}: one document per template`);
    }
    lines.push({ indent: text.length - text.trimStart().length, text: text.trim(), no: i + 1 });
  });
  let pos = 0;

  const block = (indent: number): Yaml => {
    const first = lines[pos];
    if (first === undefined) return null;
    return first.text.startsWith("- ") || first.text === "-" ? sequence(indent) : mapping(indent);
  };

  const value = (rest: string, parentIndent: number, where: string): Yaml => {
    if (rest !== "") return scalar(rest, where);
    const next = lines[pos];
    if (next === undefined || next.indent <= parentIndent) {
      // A sequence may sit at its key's indent, as kubectl writes it.
      if (next !== undefined && next.indent === parentIndent && next.text.startsWith("- ")) {
        return sequence(parentIndent);
      }
      return null;
    }
    return block(next.indent);
  };

  const mapping = (indent: number): Yaml => {
    const out: Record<string, Yaml> = {};
    while (pos < lines.length) {
      const line = lines[pos] as Line;
      if (line.indent < indent) break;
      if (line.indent > indent) throw new YamlSubsetError(`${file}:${line.no}: unexpected indentation`);
      if (line.text.startsWith("- ")) break;
      const pair = splitPair(line.text);
      if (pair === undefined) throw new YamlSubsetError(`${file}:${line.no}: expected "key: value"`);
      pos++;
      out[pair[0]] = value(pair[1], indent, `${file}:${line.no}`);
    }
    return out;
  };

  const sequence = (indent: number): Yaml => {
    const out: Yaml[] = [];
    while (pos < lines.length) {
      const line = lines[pos] as Line;
      if (line.indent !== indent || !line.text.startsWith("- ")) break;
      const rest = line.text.slice(2).trim();
      const pair = splitPair(rest);
      if (pair === undefined) {
        pos++;
        out.push(scalar(rest, `${file}:${line.no}`));
        continue;
      }
      // "- key: value" opens a mapping whose keys sit two columns right of the dash.
      lines[pos] = { indent: indent + 2, text: rest, no: line.no };
      out.push(mapping(indent + 2));
    }
    return out;
  };

  const result = block(0);
  if (pos < lines.length) {
    throw new YamlSubsetError(`${file}:${(lines[pos] as Line).no}: unexpected indentation`);
  }
  return result;
}
