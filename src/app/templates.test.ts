import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir, writeTree } from "../../test/helpers/git.js";
import { packageRoot } from "../adapters/package-root.js";
import { TemplateError, renderTemplate, renderTemplateDir } from "./templates.js";
import { SAMPLE_TEMPLATE_VARS } from "../../test/helpers/template-vars.js";

const VARS = SAMPLE_TEMPLATE_VARS;

describe("renderTemplate", () => {
  it("substitutes every placeholder", () => {
    expect(renderTemplate("name: {{isv}}-{{ app_name }}", VARS, "t")).toBe("name: acme-registry");
  });

  it("fails on a placeholder nobody provided, naming the template", () => {
    expect(() => renderTemplate("a {{isv}} {{nope}} {{nada}}", VARS, "deploy.yaml.tmpl")).toThrow(
      "template deploy.yaml.tmpl: unknown placeholder(s) {{nope}}, {{nada}}",
    );
  });

  it("refuses values that would break out of a YAML string", () => {
    expect(() => renderTemplate('uri: "{{git_url}}"', { git_url: 'x"\nkind: Secret' }, "b")).toThrow(
      TemplateError,
    );
  });
});

describe("renderTemplateDir", () => {
  it("renders the shipped app templates completely", async () => {
    const files = await renderTemplateDir(path.join(packageRoot(), "templates", "app"), VARS);
    const names = files.map((f) => f.path);
    expect(names).toEqual(
      expect.arrayContaining([
        ".gitignore",
        "Containerfile",
        "README.md",
        "openshift/buildconfig.yaml",
        "openshift/deployment.yaml",
        "openshift/hpa.yaml",
        "openshift/imagestream.yaml",
        "openshift/route.yaml",
        "openshift/service.yaml",
      ]),
    );
    for (const file of files) expect(file.data).not.toMatch(/\{\{|\}\}/);
    const deployment = files.find((f) => f.path === "openshift/deployment.yaml")?.data ?? "";
    expect(deployment).toContain("path: /readyz");
    expect(deployment).toContain("path: /healthz");
    const route = files.find((f) => f.path === "openshift/route.yaml")?.data ?? "";
    expect(route).toContain("termination: edge");
    expect(route).toContain('host: "registry-acme.apps.c1.example.com"');
    const containerfile = files.find((f) => f.path === "Containerfile")?.data ?? "";
    expect(containerfile).toMatch(/^FROM docker\.io\/library\/node:20-slim$/m);
    expect(containerfile).toMatch(/^USER 1000$/m);
    // The server bundle carries its dependencies: the build installs nothing.
    expect(containerfile).not.toContain("npm install");
    expect(containerfile).toMatch(/^COPY server\/ \.\/server\/$/m);
    expect(containerfile).not.toContain("HEALTHCHECK");
  });

  it("ignores files that are not templates and keeps sub-folders", async () => {
    const dir = await tempDir();
    await writeTree(dir, { "a/b.txt.tmpl": "{{isv}}", "notes.txt": "not a template" });
    const files = await renderTemplateDir(dir, VARS);
    expect(files).toEqual([{ path: "a/b.txt", data: "acme" }]);
    expect(await readFile(path.join(dir, "notes.txt"), "utf8")).toBe("not a template");
  });
});
