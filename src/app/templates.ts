/**
 * The app repository templates: files under templates/app/, each ending in `.tmpl`, with
 * `{{name}}` placeholders. Rendering fails on a placeholder nobody provided, so a typo in a
 * template can never ship a literal `{{...}}` into a deployment.
 */
import { readdir, readFile } from "node:fs/promises";
import * as path from "node:path";

export type TemplateVars = Record<string, string>;

const PLACEHOLDER = /\{\{\s*([a-z][a-z0-9_]*)\s*\}\}/g;
// npm drops files named .gitignore from published packages, so the template has no dot.
const RENAMES: Record<string, string> = { gitignore: ".gitignore" };

export class TemplateError extends Error {}

export function renderTemplate(text: string, vars: TemplateVars, name: string): string {
  const unknown = new Set<string>();
  const unsafe = new Set<string>();
  const out = text.replace(PLACEHOLDER, (_match, key: string) => {
    const value = vars[key];
    if (value === undefined) unknown.add(key);
    // Values land inside YAML strings and shell-free config: quotes, backslashes or line
    // breaks would change the document's structure, so they are refused outright.
    else if (/["\\\r\n]/.test(value)) unsafe.add(key);
    return value ?? "";
  });
  if (unknown.size > 0) {
    throw new TemplateError(
      `template ${name}: unknown placeholder(s) ${[...unknown].map((k) => `{{${k}}}`).join(", ")}`,
    );
  }
  if (unsafe.size > 0) {
    throw new TemplateError(`template ${name}: unsafe characters in the value of ${[...unsafe].join(", ")}`);
  }
  return out;
}

async function listTemplates(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listTemplates(dir, rel)));
    else if (entry.isFile() && entry.name.endsWith(".tmpl")) out.push(rel);
  }
  return out.sort();
}

export interface RenderedFile {
  /** Path inside the app repository, `/`-separated. */
  path: string;
  data: string;
}

/** Render every template under `dir` (templates/app). */
export async function renderTemplateDir(dir: string, vars: TemplateVars): Promise<RenderedFile[]> {
  const files: RenderedFile[] = [];
  for (const rel of await listTemplates(dir)) {
    const target = rel.slice(0, -".tmpl".length).split("/");
    const base = target.pop() ?? "";
    target.push(RENAMES[base] ?? base);
    const text = await readFile(path.join(dir, rel), "utf8");
    files.push({ path: target.join("/"), data: renderTemplate(text, vars, rel) });
  }
  return files;
}
