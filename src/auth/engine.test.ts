import { beforeAll, describe, expect, it } from "vitest";
import type { Action, Identity } from "./engine.js";
import { ANONYMOUS, explain, grantedActions } from "./engine.js";
import type { Policy } from "./policy.js";
import { fixturePolicy } from "./testing/policy-fixture.js";

const u = (name: string): Identity => ({ kind: "user", name });
const s = (name: string): Identity => ({ kind: "service", name });
const anon = ANONYMOUS;

type Row = [Identity, Action, string, string | undefined, "allow" | "deny", string];

// identity, action, repository, tag -> decision and the rule that decided (restricted registry).
const RESTRICTED: Row[] = [
  // own namespaces: by name and by id, any action, no privilege needed
  [u("alice"), "push", "users/alice/tool", undefined, "allow", "own-namespace"],
  [u("alice"), "pull", "users/alice/tool", undefined, "allow", "own-namespace"],
  [u("alice"), "delete", "users/alice/tool", "v1", "allow", "own-namespace"],
  [u("alice"), "promote", "users/alice/tool", "v1", "allow", "own-namespace"],
  [u("alice"), "push", "users/1001/tool", "v1", "allow", "own-namespace"],
  [u("alice"), "push", "users/alice", undefined, "allow", "own-namespace"],
  [u("alice"), "push", "users/alice/a/b/c", "latest", "allow", "own-namespace"],
  [u("erin"), "push", "users/erin/x", undefined, "allow", "own-namespace"],
  [u("erin"), "pull", "users/erin/x", undefined, "allow", "own-namespace"],
  [u("bob"), "push", "users/1002/x", undefined, "allow", "own-namespace"],
  // someone else's namespace: never
  [u("alice"), "push", "users/bob/testimage", "v1.0", "deny", "users-owner-only"],
  [u("alice"), "pull", "users/bob/testimage", undefined, "deny", "users-owner-only"],
  [u("alice"), "pull", "users/1002/testimage", undefined, "deny", "users-owner-only"],
  [u("bob"), "push", "users/alice/x", undefined, "deny", "users-owner-only"],
  [u("dave"), "pull", "users/alice/x", undefined, "deny", "users-owner-only"],
  [u("dave"), "delete", "users/alice/x", undefined, "deny", "users-owner-only"],
  [u("alice"), "push", "users", undefined, "deny", "users-owner-only"],
  [u("alice"), "push", "users/nobody/x", undefined, "deny", "users-owner-only"],
  [u("rel"), "promote", "users/alice/x", "v1", "deny", "users-owner-only"],
  // groups/: members only
  [u("alice"), "push", "groups/devs/lib", undefined, "allow", "groups-member"],
  [u("bob"), "pull", "groups/devs/lib", undefined, "allow", "groups-member"],
  [u("alice"), "push", "groups/7/lib", undefined, "allow", "groups-member"],
  [u("carol"), "pull", "groups/devs/lib", undefined, "deny", "groups-members-only"],
  [u("dave"), "push", "groups/devs/lib", undefined, "deny", "groups-members-only"],
  [u("dave"), "push", "groups/ops/tools", undefined, "allow", "groups-member"],
  [u("alice"), "pull", "groups/ops/tools", undefined, "deny", "groups-members-only"],
  [u("alice"), "pull", "groups/nope/x", undefined, "deny", "groups-unknown"],
  [u("alice"), "pull", "groups", undefined, "deny", "groups-unknown"],
  [u("carol"), "push", "groups/customers/x", undefined, "deny", "privilege-required"],
  [u("carol"), "pull", "groups/customers/x", undefined, "allow", "groups-member"],
  [u("erin"), "pull", "groups/devs/lib", undefined, "deny", "privilege-required"],
  [u("bob"), "delete", "groups/devs/lib", undefined, "deny", "privilege-required"],
  [u("dave"), "delete", "groups/ops/tools", undefined, "allow", "groups-member"],
  // tag rules on groups/devs: prod-* only alice
  [u("alice"), "push", "groups/devs/lib", "prod-1", "allow", "tags[2]"],
  [u("bob"), "push", "groups/devs/lib", "prod-1", "deny", "tags[2]"],
  [u("bob"), "push", "groups/devs/lib", "dev-1", "allow", "groups-member"],
  [u("alice"), "promote", "groups/devs/lib", "prod-1", "deny", "tags[2]"],
  // apps/: responsible groups push and pull, publication groups pull
  [u("alice"), "push", "apps/bigdata/server", undefined, "allow", "apps-responsible"],
  [u("alice"), "pull", "apps/bigdata/server", undefined, "allow", "apps-responsible"],
  [u("bob"), "push", "apps/42/server", undefined, "allow", "apps-responsible"],
  [u("bob"), "push", "apps/bigdata", undefined, "allow", "apps-responsible"],
  [u("carol"), "pull", "apps/bigdata/server", undefined, "allow", "apps-publication"],
  [u("carol"), "pull", "apps/42/server", undefined, "allow", "apps-publication"],
  [u("carol"), "push", "apps/bigdata/server", undefined, "deny", "privilege-required"],
  [u("dave"), "pull", "apps/bigdata/server", undefined, "deny", "apps-denied"],
  [u("dave"), "push", "apps/bigdata/server", undefined, "deny", "apps-denied"],
  [u("dave"), "push", "apps/demo/site", undefined, "allow", "apps-responsible"],
  [u("alice"), "push", "apps/demo/site", undefined, "deny", "apps-denied"],
  [u("alice"), "pull", "apps/demo/site", undefined, "deny", "apps-denied"],
  [u("carol"), "pull", "apps/demo/site", undefined, "deny", "apps-denied"],
  [u("alice"), "pull", "apps/nope/x", undefined, "deny", "apps-unknown"],
  [u("alice"), "push", "apps", undefined, "deny", "apps-unknown"],
  [u("erin"), "pull", "apps/bigdata/server", undefined, "deny", "privilege-required"],
  [u("alice"), "delete", "apps/bigdata/server", undefined, "deny", "privilege-required"],
  [u("dave"), "delete", "apps/demo/site", undefined, "allow", "apps-responsible"],
  [u("dave"), "delete", "apps/bigdata/site", undefined, "deny", "apps-denied"],
  // tag rules on apps/bigdata: v* only release, latest pushed by devs but promoted by release
  [u("alice"), "push", "apps/bigdata/server", "v1.2", "deny", "tags[0]"],
  [u("rel"), "push", "apps/bigdata/server", "v1.2", "allow", "tags[0]"],
  [u("rel"), "promote", "apps/bigdata/server", "v1.2", "allow", "tags[0]"],
  [u("bob"), "promote", "apps/bigdata/server", "v1.2", "deny", "tags[0]"],
  [u("rel"), "push", "apps/bigdata", "v2", "allow", "tags[0]"],
  [u("alice"), "push", "apps/bigdata/deep/er", "v2", "deny", "tags[0]"],
  [u("alice"), "push", "apps/bigdata/server", "latest", "allow", "tags[1]"],
  [u("alice"), "promote", "apps/bigdata/server", "latest", "deny", "tags[1]"],
  [u("rel"), "promote", "apps/bigdata/server", "latest", "allow", "tags[1]"],
  [u("alice"), "push", "apps/bigdata/server", "dev-7", "allow", "apps-responsible"],
  [u("alice"), "promote", "apps/bigdata/server", "dev-7", "allow", "apps-responsible"],
  [u("alice"), "push", "apps/bigdata/server", "V1", "allow", "apps-responsible"],
  [u("alice"), "pull", "apps/bigdata/server", "v1", "allow", "apps-responsible"],
  [u("carol"), "push", "apps/bigdata/server", "v1", "deny", "privilege-required"],
  [u("dave"), "push", "apps/bigdata/server", "v1", "deny", "apps-denied"],
  // other prefixes: registry responsibles push, publication groups pull
  [u("dave"), "push", "tools/builder", undefined, "allow", "registry-responsible"],
  [u("dave"), "pull", "tools/builder", undefined, "allow", "registry-responsible"],
  [u("dave"), "delete", "tools/builder", undefined, "allow", "registry-responsible"],
  [u("carol"), "pull", "tools/builder", undefined, "allow", "registry-publication"],
  [u("carol"), "push", "tools/builder", undefined, "deny", "privilege-required"],
  [u("alice"), "pull", "tools/builder", undefined, "deny", "default-deny"],
  [u("alice"), "push", "tools/builder", undefined, "deny", "default-deny"],
  [u("alice"), "push", "acme/bigdata-app", "1.0", "deny", "default-deny"],
  [u("dave"), "push", "acme/bigdata-app", "1.0", "allow", "registry-responsible"],
  [u("erin"), "pull", "tools/builder", undefined, "deny", "privilege-required"],
  [u("bob"), "delete", "tools/builder", undefined, "deny", "privilege-required"],
  // anonymous pull per prefix
  [anon, "pull", "public/base", undefined, "allow", "anonymous-pull"],
  [anon, "pull", "public/a/b", undefined, "allow", "anonymous-pull"],
  [anon, "pull", "public", undefined, "allow", "anonymous-pull"],
  [anon, "pull", "apps/demo/docs", undefined, "allow", "anonymous-pull"],
  [anon, "pull", "apps/demo/docs2", undefined, "deny", "anonymous-default-deny"],
  [anon, "pull", "publicity/x", undefined, "deny", "anonymous-default-deny"],
  [anon, "push", "public/base", undefined, "deny", "anonymous-default-deny"],
  [anon, "delete", "public/base", undefined, "deny", "anonymous-default-deny"],
  [anon, "pull", "apps/bigdata/server", undefined, "deny", "anonymous-default-deny"],
  [anon, "pull", "users/alice/x", undefined, "deny", "anonymous-default-deny"],
  [anon, "pull", "tools/builder", undefined, "deny", "anonymous-default-deny"],
  [u("erin"), "pull", "public/base", undefined, "allow", "anonymous-pull"],
  [u("alice"), "push", "public/base", undefined, "deny", "default-deny"],
  [u("dave"), "push", "public/base", undefined, "allow", "registry-responsible"],
  // services: pull apps/<their app>, never users/ or groups/
  [s("node-17"), "pull", "apps/bigdata/server", undefined, "allow", "service-app-pull"],
  [s("node-17"), "pull", "apps/42/server", undefined, "allow", "service-app-pull"],
  [s("node-17"), "pull", "apps/bigdata", undefined, "allow", "service-app-pull"],
  [s("node-17"), "push", "apps/bigdata/server", undefined, "deny", "service-default-deny"],
  [s("node-17"), "delete", "apps/bigdata/server", undefined, "deny", "service-default-deny"],
  [s("node-17"), "pull", "apps/demo/site", undefined, "deny", "service-default-deny"],
  [s("node-17"), "pull", "users/alice/x", undefined, "deny", "service-no-users-groups"],
  [s("node-17"), "pull", "groups/devs/lib", undefined, "deny", "service-no-users-groups"],
  [s("node-17"), "pull", "tools/builder", undefined, "deny", "service-default-deny"],
  [s("node-17"), "pull", "public/base", undefined, "allow", "anonymous-pull"],
  [s("idle"), "pull", "apps/demo/site", undefined, "deny", "service-default-deny"],
  [s("idle"), "pull", "apps/demo/docs", undefined, "allow", "anonymous-pull"],
  [s("gone"), "pull", "apps/bigdata/server", undefined, "deny", "identity-unknown"],
  [u("mallory"), "pull", "public/base", undefined, "deny", "identity-unknown"],
  [u("mallory"), "push", "users/mallory/x", undefined, "deny", "identity-unknown"],
  // hostile names and tags
  [u("alice"), "push", "users/alice/../bob/x", undefined, "deny", "name-invalid"],
  [u("alice"), "push", "users/ALICE/x", undefined, "deny", "name-invalid"],
  [u("alice"), "push", "users//alice", undefined, "deny", "name-invalid"],
  [u("alice"), "push", "/users/alice", undefined, "deny", "name-invalid"],
  [u("alice"), "push", "__proto__", undefined, "deny", "name-invalid"],
  [u("alice"), "push", "users/alice/x", "../v1", "deny", "tag-invalid"],
  [u("alice"), "push", "users/alice/x", "-v1", "deny", "tag-invalid"],
  [u("alice"), "push", `users/alice/${"a".repeat(300)}`, undefined, "deny", "name-invalid"],
  [anon, "pull", "", undefined, "deny", "name-invalid"],
];

// The same identities on an unrestricted registry: any login with puller pulls apps/ and other prefixes.
const UNRESTRICTED: Row[] = [
  [u("dave"), "pull", "apps/bigdata/server", undefined, "allow", "apps-unrestricted"],
  [u("alice"), "pull", "apps/demo/site", undefined, "allow", "apps-unrestricted"],
  [u("alice"), "pull", "tools/builder", undefined, "allow", "registry-unrestricted"],
  [u("carol"), "pull", "apps/bigdata/server", undefined, "allow", "apps-publication"],
  [u("alice"), "push", "tools/builder", undefined, "deny", "default-deny"],
  [u("alice"), "push", "apps/demo/site", undefined, "deny", "apps-denied"],
  [u("erin"), "pull", "tools/builder", undefined, "deny", "privilege-required"],
  [u("alice"), "pull", "users/bob/x", undefined, "deny", "users-owner-only"],
  [u("carol"), "pull", "groups/devs/x", undefined, "deny", "groups-members-only"],
  [anon, "pull", "tools/builder", undefined, "deny", "anonymous-default-deny"],
  [s("node-17"), "pull", "tools/builder", undefined, "deny", "service-default-deny"],
  [s("node-17"), "pull", "apps/demo/site", undefined, "deny", "service-default-deny"],
];

let restricted: Policy;
let unrestricted: Policy;
beforeAll(async () => {
  restricted = await fixturePolicy("restricted");
  unrestricted = await fixturePolicy("unrestricted");
});

const label = ([id, action, repo, tag, want, rule]: Row) =>
  `${id.kind === "anonymous" ? "anonymous" : id.name} ${action} ${repo.slice(0, 40)}${tag === undefined ? "" : ":" + tag} -> ${want} by ${rule}`;

describe("decision table", () => {
  it("has at least 100 rows", () => {
    expect(RESTRICTED.length + UNRESTRICTED.length).toBeGreaterThanOrEqual(100);
  });
  it.each(RESTRICTED.map((r) => [label(r), r] as const))(
    "restricted: %s",
    (_, [id, action, repo, tag, want, rule]) => {
      const decision = explain(restricted, id, action, repo, tag);
      expect({ allow: decision.allow, rule: decision.rule }).toEqual({ allow: want === "allow", rule });
      expect(decision.reason.length).toBeGreaterThan(0);
    },
  );
  it.each(UNRESTRICTED.map((r) => [label(r), r] as const))(
    "unrestricted: %s",
    (_, [id, action, repo, tag, want, rule]) => {
      const decision = explain(unrestricted, id, action, repo, tag);
      expect({ allow: decision.allow, rule: decision.rule }).toEqual({ allow: want === "allow", rule });
    },
  );
});

describe("grantedActions", () => {
  it("returns only the allowed subset", () => {
    expect(grantedActions(restricted, u("carol"), "apps/bigdata/server", ["pull", "push", "delete"])).toEqual(
      ["pull"],
    );
    expect(grantedActions(restricted, u("alice"), "users/bob/x", ["pull", "push"])).toEqual([]);
    expect(grantedActions(restricted, u("dave"), "tools/x", ["pull", "push", "delete"])).toEqual([
      "pull",
      "push",
      "delete",
    ]);
  });
});
