import { describe, expect, it } from "vitest";
import { InputError } from "../errors.js";
import type { EnvironmentAction, Identity } from "./engine.js";
import { ANONYMOUS, explainEnvironment } from "./engine.js";
import { parsePolicy, serializePolicy } from "./policy-file.js";

const u = (name: string): Identity => ({ kind: "user", name });

const BASE = `version: 1
registry: { responsibleGroups: [devs, release] }
users:
  alice: { privileges: [puller, pusher] }
  rel: { privileges: [puller, pusher] }
  carol: { privileges: [puller] }
  olga: { privileges: [puller, pusher] }
groups:
  devs: { members: [alice] }
  release: { members: [rel] }
  ops: { members: [olga] }
apps:
  node: { id: "42", responsibleGroups: [devs] }
services:
  ci: { app: node, token: "sha256:${"0".repeat(64)}", privileges: [puller, pusher] }
`;

const RULES = `promotions:
  - { environments: [prod], repository: "acme/**", tags: ["v*", "release-?"], promote: [release], demote: [release, olga] }
  - { environments: [uat, test], promote: [devs, release], demote: [devs] }
`;

const policy = parsePolicy(BASE + RULES);

type Row = [Identity, EnvironmentAction, string, string, string, "allow" | "deny", string];

const ROWS: Row[] = [
  // the tag pattern of the prod rule, and who it names
  [u("rel"), "promote", "prod", "acme/app", "v1.2", "allow", "promotions[0]"],
  [u("rel"), "promote", "prod", "acme/tools/cli", "release-7", "allow", "promotions[0]"],
  [u("alice"), "promote", "prod", "acme/app", "v1.2", "deny", "promotions[0]"],
  [u("rel"), "promote", "prod", "acme/app", "rc-1", "deny", "promotions-default-deny"],
  [u("rel"), "promote", "prod", "acme/app", "release-10", "deny", "promotions-default-deny"],
  [u("rel"), "promote", "prod", "other/app", "v1", "deny", "promotions-default-deny"],
  // environment mismatch: no rule is about stage
  [u("rel"), "promote", "stage", "acme/app", "v1.2", "deny", "promotions-default-deny"],
  // the rule for uat and test, any repository and tag
  [u("alice"), "promote", "uat", "acme/app", "rc-1", "allow", "promotions[1]"],
  [u("rel"), "promote", "test", "acme/app", "anything", "allow", "promotions[1]"],
  // demotion has its own list
  [u("rel"), "demote", "prod", "acme/app", "v1.2", "allow", "promotions[0]"],
  [u("alice"), "demote", "prod", "acme/app", "v1.2", "deny", "promotions[0]"],
  [u("alice"), "demote", "uat", "acme/app", "rc-1", "allow", "promotions[1]"],
  [u("rel"), "demote", "uat", "acme/app", "rc-1", "deny", "promotions[1]"],
  // the repository rules come first: olga is listed for prod demotions but may not push acme/
  [u("olga"), "demote", "prod", "acme/app", "v1.2", "deny", "default-deny"],
  [u("carol"), "promote", "uat", "acme/app", "v1", "deny", "privilege-required"],
  [u("nobody"), "promote", "uat", "acme/app", "v1", "deny", "identity-unknown"],
  [{ kind: "service", name: "ci" }, "promote", "uat", "apps/node/x", "v1", "deny", "service-default-deny"],
  [ANONYMOUS, "promote", "uat", "acme/app", "v1", "deny", "anonymous-default-deny"],
  [u("rel"), "promote", "prod", "acme/app", "bad tag", "deny", "tag-invalid"],
  // own namespaces are narrowed too: prod is guarded for everyone
  [u("alice"), "promote", "prod", "users/alice/tool", "v1", "deny", "promotions-default-deny"],
  [u("alice"), "promote", "uat", "users/alice/tool", "v1", "allow", "promotions[1]"],
];

describe("promotion rules (who may promote into which environment)", () => {
  it.each(
    ROWS.map(
      (r) =>
        [`${(r[0] as { name?: string }).name ?? "anonymous"} ${r[1]} ${r[3]}:${r[4]} ${r[2]}`, r] as const,
    ),
  )("%s", (_, [identity, action, env, repository, tag, want, rule]) => {
    const decision = explainEnvironment(policy, identity, action, env, repository, tag);
    expect({ allow: decision.allow, rule: decision.rule }).toEqual({ allow: want === "allow", rule });
    // A decision by a promotion rule says which environment it is about.
    if (rule.startsWith("promotions")) expect(decision.reason).toContain(env);
  });

  it("without promotion rules the repository rules decide, as before", () => {
    const open = parsePolicy(BASE);
    expect(explainEnvironment(open, u("alice"), "promote", "prod", "acme/app", "v1")).toMatchObject({
      allow: true,
      rule: "registry-responsible",
    });
    expect(explainEnvironment(open, u("carol"), "promote", "prod", "acme/app", "v1").allow).toBe(false);
  });

  it("a denial names who may, and the environment", () => {
    const decision = explainEnvironment(policy, u("alice"), "promote", "prod", "acme/app", "v1.2");
    expect(decision.reason).toBe("only release may promote v*, release-? of acme/** into prod");
  });

  it("round-trips, and files without promotion rules keep their text", () => {
    const text = serializePolicy(policy);
    expect(text).toContain("promotions:");
    expect(serializePolicy(parsePolicy(text))).toBe(text);
    expect(serializePolicy(parsePolicy(BASE))).not.toContain("promotions");
    const defaults = parsePolicy(`${BASE}promotions:\n  - { promote: [rel] }\n`).promotions[0];
    expect(defaults?.environments.size).toBe(0);
    expect(defaults?.repository.source).toBe("**");
    expect(defaults?.tags.map((t) => t.source)).toEqual(["*"]);
  });

  it("rejects bad environments, patterns, empty tag lists and unknown subjects, all at once", () => {
    let message = "";
    try {
      parsePolicy(
        `${BASE}promotions:\n  - { environments: [Prod, "1x"], tags: [], promote: [ghost] }\n  - { tags: ["v(1|2)"], demote: [rel], approve: [rel] }\n`,
        "prod/access.yaml",
      );
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      message = (err as Error).message;
    }
    expect(message).toContain("prod/access.yaml");
    expect(message).toContain("promotions.0.environments.0: must be an environment name");
    expect(message).toContain("promotions.0.environments.1");
    expect(message).toContain("promotions.0.tags: must list at least one pattern");
    expect(message).toContain("promotions.1.tags.0: is not a valid pattern");
    expect(message).toContain("approve");
  });

  it("checks that the users and groups a rule names exist", () => {
    expect(() => parsePolicy(`${BASE}promotions:\n  - { environments: [prod], promote: [ghost] }\n`)).toThrow(
      'promotions.0: "ghost" is neither a user nor a group',
    );
  });
});
