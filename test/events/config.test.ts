/**
 * Event endpoints from raas.cfg (config) through registry.conf (app) to the registry server
 * (server): a test across those folders lives here, not in src/events/, which they all import.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { registryConf } from "../../src/app/registry-conf.js";
import { loadConfig, resolveIsv } from "../../src/config/index.js";
import { loadServerConfig } from "../../src/server/config.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function configWith(text: string) {
  const cwd = await mkdtemp(join(tmpdir(), "raas-events-cfg-"));
  dirs.push(cwd);
  await writeFile(join(cwd, "raas.cfg"), text);
  return { cwd, env: { HOME: cwd, RAAS_HOME: join(cwd, "state") } };
}

describe("event endpoint configuration", () => {
  it("carries [events.<name>] from raas.cfg through registry.conf to the server unchanged", async () => {
    const { cwd, env } = await configWith(
      [
        "[events.collector]",
        "url = https://collector.example.com/events",
        "header.Authorization = Bearer ${HOOK_TOKEN}",
        "header.X-Source = raas",
        "timeout = 500ms",
        "threshold = 5",
        "backoff = 2s",
        "ignored_actions = pull",
        "ignored_media_types = application/vnd.oci.image.index.v1+json",
        "max_backlog = 50",
        "pull_events = request",
        "pull_window = 250ms",
        "[acme]",
        "storage = local",
      ].join("\n"),
    );
    const settings = await resolveIsv(await loadConfig({ cwd, env }), "acme", { allocate: false });
    const conf = registryConf(settings);
    expect(conf).toContain("[events.collector]");
    const file = join(cwd, "registry.conf");
    await writeFile(file, conf);
    const server = await loadServerConfig(file, {});
    expect(server.events).toEqual(settings.events);
    expect(server.events).toEqual([
      {
        name: "collector",
        url: "https://collector.example.com/events",
        headers: { authorization: "Bearer ${HOOK_TOKEN}", "x-source": "raas" },
        timeoutMs: 500,
        threshold: 5,
        backoffMs: 2000,
        ignoredActions: ["pull"],
        ignoredMediaTypes: ["application/vnd.oci.image.index.v1+json"],
        maxBacklog: 50,
        pullEvents: "request",
        pullWindowMs: 250,
      },
    ]);
  });

  it("reports every bad endpoint setting at once, naming raas.cfg, and refuses a literal credential", async () => {
    const { cwd, env } = await configWith(
      [
        "[events.a]",
        "url = ftp://x",
        "timeout = soon",
        "header.Authorization = Bearer abc123",
        "ignored_actions = pull, explode",
        "colour = blue",
        "pull_events = sometimes",
        "pull_window = 5m",
        "[events.Bad_Name]",
        "url = http://x",
        "[events.creds]",
        "url = https://alice:hunter2@collector.example.com/",
      ].join("\n"),
    );
    const error = await loadConfig({ cwd, env }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    const text = error?.message ?? "";
    expect(text).toContain("raas.cfg");
    for (const part of [
      "[events.a] url must be an http(s) URL",
      "[events.a] timeout must be a duration",
      "[events.a] header.authorization looks like a credential",
      '[events.a] ignored_actions has an unknown action "explode"',
      "[events.a] colour is not a known key",
      '[events.a] pull_events must be window or request, not "sometimes"',
      "[events.a] pull_window must be between 10ms and 60s",
      "[events.Bad_Name]: an endpoint name is",
      "[events.creds] url must not carry a user or password",
    ]) {
      expect(text).toContain(part);
    }
    // The credential written into the URL is not repeated in the error.
    expect(text).not.toContain("hunter2");
  });
});
