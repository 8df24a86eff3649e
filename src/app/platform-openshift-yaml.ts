/**
 * The OpenShift templates (templates/app/openshift) are YAML; setup sends the rendered objects
 * to the Kubernetes API as JSON. Read with the `yaml` package (YAML 1.2, core schema), one
 * document per file, every error naming the file and line. Only JSON data comes out: a value
 * JSON cannot carry (binary, infinity, a collection as a key) is refused, never converted.
 */
import { LineCounter, parseAllDocuments } from "yaml";

export type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };

export class TemplateYamlError extends Error {}

/** A value from the parser (maps as Map) as JSON data, or an error naming where it sits. */
function jsonData(value: unknown, where: string): Yaml {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value;
  } else if (Array.isArray(value)) {
    return value.map((item, i) => jsonData(item, `${where}[${i}]`));
  } else if (value instanceof Map) {
    const out: { [key: string]: Yaml } = {};
    for (const [key, item] of value) {
      if (typeof key === "object" && key !== null) {
        throw new TemplateYamlError(`${where}: a key must be a scalar, not a collection`);
      }
      const name = String(key);
      out[name] = jsonData(item, `${where}.${name}`);
    }
    return out;
  }
  // Binary (!!binary) and other objects by their type: their text would be [object ...].
  const shown =
    typeof value === "number" || value === undefined
      ? String(value)
      : Object.prototype.toString.call(value).slice(8, -1);
  throw new TemplateYamlError(`${where}: ${shown} is not JSON data`);
}

export function parseTemplateYaml(source: string, file: string): Yaml {
  const lines = new LineCounter();
  const documents = parseAllDocuments(source, { lineCounter: lines, prettyErrors: false });
  const at = (offset: number) => `${file}:${lines.linePos(offset).line}`;
  const [document, second] = documents;
  if (second !== undefined) throw new TemplateYamlError(`${at(second.range[0])}: one document per template`);
  if (document === undefined) return null;
  const problem = document.errors[0] ?? document.warnings[0];
  if (problem !== undefined) throw new TemplateYamlError(`${at(problem.pos[0])}: ${problem.message}`);
  return jsonData(document.toJS({ mapAsMap: true }), file);
}
