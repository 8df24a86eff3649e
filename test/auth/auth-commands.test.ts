/**
 * Policy management commands against a real app repository (a bare git remote in a temp dir):
 * every change is one commit of access.yaml; lists never show hashes; a new service-login token
 * is returned once and only its hash is committed.
 */
import { describe, expect, it } from "vitest";
import { GitAppRepository } from "../../src/app/app-transaction.js";
import { hashPassword, parsePolicy, verifyPassword } from "../../src/auth/index.js";
import { auth, type AuthRequest } from "../../src/commands/auth.js";
import { PlainReporter } from "../../src/ui/plain.js";
import { gitOut, tempDir, tempGitRemote } from "../helpers/git.js";

const quiet = { write: () => undefined };

async function setupRepo() {
  const { remote } = await tempGitRemote({ files: { "README.md": "app\n" } });
  const app = new GitAppRepository({
    remote,
    branch: "main",
    reporter: new PlainReporter("error", quiet, quiet),
  });
  const run = (request: AuthRequest) =>
    auth(request, { app, hashPassword: (p) => hashPassword(p, { ln: 10, r: 8, p: 1 }) });
  return { remote, app, run };
}

async function fileAt(remote: string): Promise<string> {
  const dir = await tempDir();
  gitOut(dir, ["clone", "--quiet", remote, "c"]);
  return gitOut(`${dir}/c`, ["show", "HEAD:access.yaml"]);
}

describe("raas user/group/app/service-login/access (command logic)", () => {
  it("builds a policy commit by commit and explains decisions", async () => {
    const { remote, app, run } = await setupRepo();
    try {
      await run({
        kind: "user-add",
        name: "alice",
        id: "1001",
        privileges: ["puller", "pusher"],
        password: "alice-password",
      });
      await run({ kind: "user-add", name: "carol", privileges: ["puller"], password: "carol-password" });
      await run({ kind: "group-add", name: "devs", members: ["alice"] });
      await run({ kind: "group-add", name: "customers", members: [] });
      await run({ kind: "group-member", group: "customers", user: "carol", member: true });
      await run({
        kind: "app-set",
        name: "bigdata",
        id: "42",
        publicationGroups: ["customers"],
        responsibleGroups: ["devs"],
      });
      const created = await run({ kind: "service-login-create", name: "node-17", app: "bigdata" });
      expect(created.token).toMatch(/^raas_sl_[A-Za-z0-9_-]{43}$/);

      const text = await fileAt(remote);
      expect(text).not.toContain(created.token);
      expect(text).not.toContain("alice-password");
      const policy = parsePolicy(text);
      expect(await verifyPassword("alice-password", policy.users.get("alice")?.passwordHash)).toBe(true);

      const dir = await tempDir();
      gitOut(dir, ["clone", "--quiet", remote, "c"]);
      const log = gitOut(`${dir}/c`, ["log", "--format=%s"]).split("\n");
      expect(log.slice(0, 7)).toEqual([
        "access: add service login node-17 for app bigdata",
        "access: app bigdata",
        "access: add carol to group customers",
        "access: add group customers",
        "access: add group devs",
        "access: add user carol",
        "access: add user alice",
      ]);

      const users = await run({ kind: "user-list" });
      expect(users.users).toEqual([
        { name: "alice", id: "1001", privileges: ["puller", "pusher"], password: true, groups: ["devs"] },
        { name: "carol", privileges: ["puller"], password: true, groups: ["customers"] },
      ]);
      expect(JSON.stringify(users)).not.toContain("$scrypt$");
      expect((await run({ kind: "app-list" })).apps).toEqual([
        {
          name: "bigdata",
          id: "42",
          publicationGroups: ["customers"],
          responsibleGroups: ["devs"],
          serviceLogins: ["node-17"],
        },
      ]);

      const check = await run({
        kind: "access-check",
        identity: "alice",
        action: "push",
        reference: "users/bob/testimage:v1.0",
      });
      expect(check.check).toMatchObject({
        allow: false,
        rule: "users-owner-only",
        repository: "users/bob/testimage",
        tag: "v1.0",
      });
      const svc = await run({
        kind: "access-check",
        identity: "service:node-17",
        action: "pull",
        reference: "apps/42/server",
      });
      expect(svc.check).toMatchObject({ allow: true, rule: "service-app-pull" });
      // A bare name is the login the registry would resolve: node-17 is a service login.
      const bare = await run({
        kind: "access-check",
        identity: "node-17",
        action: "pull",
        reference: "apps/42/server",
      });
      expect(bare.check).toMatchObject({ identity: "node-17", allow: true, rule: "service-app-pull" });
      const asUser = await run({
        kind: "access-check",
        identity: "user:node-17",
        action: "pull",
        reference: "apps/42/server",
      });
      expect(asUser.check).toMatchObject({ allow: false, rule: "identity-unknown" });
      const carol = await run({
        kind: "access-check",
        identity: "carol",
        action: "pull",
        reference: "apps/42/server",
      });
      expect(carol.check).toMatchObject({ allow: true });

      await run({ kind: "user-passwd", name: "alice", password: "new-password!" });
      const after = parsePolicy(await fileAt(remote));
      expect(await verifyPassword("new-password!", after.users.get("alice")?.passwordHash)).toBe(true);
      await run({ kind: "service-login-revoke", name: "node-17" });
      expect(parsePolicy(await fileAt(remote)).services.size).toBe(0);
      await run({ kind: "user-remove", name: "carol" });
      const final = parsePolicy(await fileAt(remote));
      expect(final.users.has("carol")).toBe(false);
      expect([...final.groups.get("customers")!.members]).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it("refuses bad input clearly and commits nothing", async () => {
    const { remote, app, run } = await setupRepo();
    try {
      await run({ kind: "user-add", name: "alice", privileges: [] });
      const before = await fileAt(remote);
      await expect(run({ kind: "user-add", name: "alice", privileges: [] })).rejects.toThrow(
        /login "alice" already exists/,
      );
      await expect(run({ kind: "user-add", name: "__proto__", privileges: [] })).rejects.toThrow(
        /user name "__proto__" is not valid/,
      );
      await expect(run({ kind: "user-add", name: "bob", privileges: [], password: "short" })).rejects.toThrow(
        /at least 8/,
      );
      await expect(run({ kind: "group-add", name: "devs", members: ["ghost"] })).rejects.toThrow(
        /no user "ghost"/,
      );
      await expect(run({ kind: "service-login-create", name: "ci", app: "nope" })).rejects.toThrow(
        /no app "nope"/,
      );
      await expect(run({ kind: "service-login-create", name: "alice", app: "nope" })).rejects.toThrow(
        /already exists/,
      );
      await expect(
        run({ kind: "access-check", identity: "alice", action: "own", reference: "a/b" }),
      ).rejects.toThrow(/unknown action/);
      expect(await fileAt(remote)).toBe(before);
      await run({ kind: "group-add", name: "devs", members: ["alice"] });
      await run({ kind: "app-set", name: "web", publicationGroups: [], responsibleGroups: ["devs"] });
      const withApp = await fileAt(remote);
      await expect(run({ kind: "group-remove", name: "devs" })).rejects.toThrow(/used by apps.web/);
      await expect(
        run({ kind: "app-set", name: "web", publicationGroups: ["ghosts"], responsibleGroups: [] }),
      ).rejects.toThrow(/no group "ghosts"/);
      expect(await fileAt(remote)).toBe(withApp);
    } finally {
      await app.close();
    }
  });
});
