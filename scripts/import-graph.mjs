#!/usr/bin/env node
// The folder-level import graph of src/: one edge "a -> b" per pair of folders where a file in
// src/a imports a file in src/b (type-only imports count: they couple the folders just the same).
// Files directly in src/ count as their own node (src/errors.ts -> "errors"). The shipped code
// is what must not form a cycle; tests (*.test.ts, testing/ folders) are left out unless asked.
//
//   node scripts/import-graph.mjs            print the edges
//   node scripts/import-graph.mjs --check    also exit 1 when the folders form a cycle
//   node scripts/import-graph.mjs --tests    count the tests' imports too
//   node scripts/import-graph.mjs --src DIR  another source tree (the check's own test uses it)
//
// No dependencies: import specifiers are read with a regular expression over the source text,
// which is enough for our own code (relative specifiers ending in .js, as NodeNext requires).
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const SPECIFIER =
  /(?:^|[\s;}])(?:import|export)\s(?:[^'";]*?\sfrom\s*)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** Every .ts file under dir; tests and testing/ folders only with `tests`. */
function tsFiles(dir, tests) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (tests || entry.name !== "testing") out.push(...tsFiles(path, tests));
    } else if (entry.name.endsWith(".ts") && (tests || !entry.name.endsWith(".test.ts"))) {
      out.push(path);
    }
  }
  return out;
}

/** "app" for src/app/app-repo.ts, "errors" for src/errors.ts. */
function folderOf(srcDir, file) {
  const parts = relative(srcDir, file).split(sep);
  return parts.length === 1 ? parts[0].replace(/\.ts$/, "") : parts[0];
}

/** Map of folder -> set of folders it imports (itself excluded). */
export function folderGraph(srcDir, { tests = false } = {}) {
  const graph = new Map();
  for (const file of tsFiles(srcDir, tests)) {
    const from = folderOf(srcDir, file);
    if (!graph.has(from)) graph.set(from, new Set());
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(SPECIFIER)) {
      const specifier = match[1] ?? match[2];
      if (!specifier.startsWith(".")) continue;
      const target = resolve(dirname(file), specifier);
      const rel = relative(srcDir, target);
      if (rel.startsWith("..")) continue; // test/ helpers and the like are outside src/
      const to = folderOf(srcDir, target.replace(/\.js$/, ".ts"));
      if (to !== from) graph.get(from).add(to);
    }
  }
  return graph;
}

/** Every elementary cycle's representative: the strongly connected components with more than one folder. */
export function folderCycles(graph) {
  // Tarjan's algorithm; the graph has a dozen nodes, recursion depth is no concern.
  let index = 0;
  const indexOf = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const visit = (node) => {
    indexOf.set(node, index);
    low.set(node, index);
    index += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indexOf.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node), low.get(next)));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), indexOf.get(next)));
      }
    }
    if (low.get(node) === indexOf.get(node)) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!indexOf.has(node)) visit(node);
  return components;
}

/** The edges as "a -> b" lines, sorted. */
export function edgeLines(graph) {
  const lines = [];
  for (const [from, tos] of graph) for (const to of tos) lines.push(`${from} -> ${to}`);
  return lines.sort();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--src");
  const srcDir =
    at > 0 && process.argv[at + 1] !== undefined
      ? resolve(process.argv[at + 1])
      : resolve(dirname(fileURLToPath(import.meta.url)), "..", "src");
  const graph = folderGraph(srcDir, { tests: process.argv.includes("--tests") });
  for (const line of edgeLines(graph)) console.log(line);
  const cycles = folderCycles(graph);
  for (const cycle of cycles) console.error(`cycle among folders: ${cycle.join(", ")}`);
  if (process.argv.includes("--check") && cycles.length > 0) process.exitCode = 1;
}
