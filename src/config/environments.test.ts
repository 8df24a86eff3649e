import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readdir } from "node:fs/promises";
import { InputError, UsageError, UserError } from "../errors.js";
import { cliEnv, runCli } from "../../test/helpers/cli.js";
import { tempDir, writeTree } from "../../test/helpers/git.js";
import { resolveIsv } from "./isv.js";
import { loadConfig } from "./load.js";

async function configFrom(text: string) {
  const cwd = await tempDir();
  await writeTree(cwd, { "raas.cfg": text });
  return loadConfig({ cwd, env: { HOME: cwd, RAAS_HOME: path.join(cwd, "state") } });
}

const OPENSHIFT = "[openshift]\nserver_url = https://api.c1.example.com:6443\n";

describe("lifecycle environments in raas.cfg", () => {
  it("leaves [events.<name>] and [retention.<isv>.<rule>] sections to their own families", async () => {
    const config = await configFrom(
      [
        "[acme]",
        "environments = test prod",
        "[events.collector]",
        "url = http://127.0.0.1:9/events",
        "[retention.acme.old]",
        "repositories = acme/*",
        "keep_last = 3",
        "",
      ].join("\n"),
    );
    const prod = await resolveIsv(config, "acme", { env: "prod" });
    expect(prod.environment?.name).toBe("prod");
    expect(prod.events?.map((e) => e.name)).toEqual(["collector"]);
    expect(prod.retention).toHaveLength(1);
  });

  it("refuses an ISV named events or retention, in raas.cfg and on the command line", async () => {
    for (const name of ["events", "retention"]) {
      const err = await configFrom(`[${name}]\nenvironments = test\n[${name}.test]\nport = 5999\n`).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InputError);
      const message = (err as InputError).message;
      expect((err as InputError).file).toMatch(/raas\.cfg$/);
      expect(message).toContain(
        `[${name}]: "${name}" cannot name an ISV: it is the section family [${name}.`,
      );
      expect(message).toContain("choose another ISV name");

      const rule = await configFrom(`[retention.${name}.old]\nkeep_last = 3\n`).catch((e: unknown) => e);
      expect(rule).toBeInstanceOf(InputError);
      expect((rule as Error).message).toContain(`[retention.${name}.old]: "${name}" cannot name an ISV`);

      const work = await tempDir();
      const env = cliEnv(path.join(work, "home"));
      const run = await runCli(["setup", name, "--no-start"], { cwd: work, env });
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`"${name}" cannot name an ISV`);
      expect(run.stderr).toContain("section families");
      expect(await readdir(path.join(work, "home", "raas")).catch(() => [])).toEqual([]);
    }
  });

  it("gives each environment its own port, state, app repository and URL, and the ISV's store", async () => {
    const config = await configFrom("[acme]\nenvironments = test, prod\n[acme.prod]\nport = 5999\n");
    const test = await resolveIsv(config, "acme", { env: "test" });
    const prod = await resolveIsv(config, "acme", { env: "prod" });
    expect(test.environment).toEqual({
      name: "test",
      all: ["test", "prod"],
      sharedStore: true,
      ownRecords: false,
      promoteOnly: false,
    });
    // The first environment sharing the store keeps the plain statistics and event keys.
    expect(prod.environment?.ownRecords).toBe(true);
    expect(prod.appUrl).toBe("https://127.0.0.1:5999");
    expect(test.appUrl).not.toBe(prod.appUrl);
    for (const [settings, env] of [
      [test, "test"],
      [prod, "prod"],
    ] as const) {
      expect(settings.isv).toBe("acme");
      expect(settings.isvDir).toBe(path.join(config.stateDir, `acme.${env}`));
      expect(settings.appRemote).toBe(path.join(config.stateDir, `acme.${env}`, "app.git"));
      expect(settings.storage).toEqual({
        kind: "local",
        root: path.join(config.stateDir, "acme", "storage"),
      });
    }
  });

  it("gives an environment with store = own or an s3_bucket a store of its own", async () => {
    const config = await configFrom(
      "[raas]\nstorage = s3\n[acme]\ns3_bucket = acme-images\nenvironments = test uat prod\n" +
        "[acme.uat]\nstore = own\n[acme.prod]\ns3_bucket = acme-prod-images\n",
    );
    const bucket = async (env: string) => {
      const s = await resolveIsv(config, "acme", { env });
      return [
        s.storage.kind === "s3" ? s.storage.bucket : "",
        s.environment?.sharedStore,
        s.environment?.ownRecords,
      ];
    };
    expect(await bucket("test")).toEqual(["acme-images", true, false]);
    expect(await bucket("uat")).toEqual(["acme-images-uat", false, false]);
    expect(await bucket("prod")).toEqual(["acme-prod-images", false, false]);
  });

  it("keeps the plain records for the first environment sharing the store, even when it is not the first", async () => {
    const config = await configFrom(
      "[raas]\nstorage = s3\n[acme]\ns3_bucket = acme-images\nenvironments = test uat prod\n" +
        "[acme.test]\nstore = own\n",
    );
    const records = async (env: string) =>
      (await resolveIsv(config, "acme", { env })).environment?.ownRecords;
    expect([await records("test"), await records("uat"), await records("prod")]).toEqual([
      false,
      false,
      true,
    ]);
  });

  it("derives OpenShift app names and route hosts <env>-<app>, each environment with its own repository", async () => {
    const config = await configFrom(
      `${OPENSHIFT}[acme]\nplatform = openshift\nenvironments = test prod\napp_url = https://registry.acme.example.com\n` +
        "[acme.test]\napp_git_url = https://git.example/acme-test.git\n" +
        "[acme.prod]\napp_git_url = https://git.example/acme-prod.git\n",
    );
    const prod = await resolveIsv(config, "acme", { env: "prod" });
    expect(prod.platform).toMatchObject({ kind: "openshift", appName: "prod-registry", namespace: "acme" });
    expect(prod.platform.kind === "openshift" ? prod.platform.routeHost : "").toBe(
      "prod-registry.acme.example.com",
    );
    expect(prod.appUrl).toBe("https://prod-registry.acme.example.com");
    expect(prod.appRemote).toBe("https://git.example/acme-prod.git");

    const derived = await configFrom(
      `${OPENSHIFT}[acme]\nplatform = openshift\nenvironments = test\n[acme.test]\napp_git_url = https://git.example/t.git\n`,
    );
    const test = await resolveIsv(derived, "acme", { env: "test" });
    expect(test.appUrl).toBe("https://test-registry-acme.apps.c1.example.com");
  });

  it("requires each OpenShift environment's own app repository, naming its section", async () => {
    const config = await configFrom(
      `${OPENSHIFT}[acme]\nplatform = openshift\nenvironments = test\napp_git_url = https://git.example/a.git\n`,
    );
    const err = await resolveIsv(config, "acme", { env: "test" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toContain("[acme.test] app_git_url is required");
  });

  it("refuses an unknown environment, --env without environments, and no --env with them", async () => {
    const config = await configFrom("[acme]\nenvironments = test prod\n[plain]\n");
    for (const [isv, env, message] of [
      ["acme", "staging", 'acme has no environment "staging"'],
      ["plain", "test", 'plain has no environments, so --env "test" means nothing'],
      ["acme", "__proto__", 'acme has no environment "__proto__"'],
      ["acme", "x".repeat(100_000), `acme has no environment "${"x".repeat(64)}…"`],
      [
        "plain",
        "y".repeat(100_000),
        `plain has no environments, so --env "${"y".repeat(64)}…" means nothing`,
      ],
      ["acme", undefined, "acme has environments (test, prod): say which one with --env"],
    ] as const) {
      const err = await resolveIsv(config, isv, env === undefined ? {} : { env }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toContain(message);
      // Whatever was passed, the message stays a line.
      expect((err as Error).message.length).toBeLessThan(200);
    }
  });

  it("reports every bad environment setting at once", async () => {
    const err = await configFrom(
      "[acme]\nenvironments = test Prod 9x\npromote_only = live\n[acme.uat]\nport = 1\n[acme.test]\nstore = maybe\nport = 70000\n",
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    const message = (err as Error).message;
    expect(message).toContain('[acme] environments: invalid item(s): "Prod", "9x"');
    expect(message).toContain("[acme.uat]: acme declares no environment uat");
    const valid = await configFrom(
      "[acme]\nenvironments = test prod\npromote_only = live\n[acme.test]\nstore = maybe\nport = 70000\n",
    ).catch((e: unknown) => e);
    const text = (valid as Error).message;
    expect(text).toContain("[acme] promote_only: live is not one of its environments (test, prod)");
    expect(text).toContain('[acme.test] store: "maybe" is not one of shared, own');
    expect(text).toContain("[acme.test] port:");
  });

  it("refuses promote_only on the first environment, where images enter", async () => {
    const err = await configFrom("[acme]\nenvironments = test prod\npromote_only = test\n").catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toContain("promote_only: test is the first environment");
  });

  it("leaves an ISV without environments exactly as before", async () => {
    const config = await configFrom("[acme]\nport = 5998\n");
    const acme = await resolveIsv(config, "acme");
    expect(acme.environment).toBeUndefined();
    expect(acme.isvDir).toBe(path.join(config.stateDir, "acme"));
    expect(acme.appUrl).toBe("https://127.0.0.1:5998");
  });
});
