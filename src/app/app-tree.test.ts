/**
 * The read-only view `raas status` reads the app repository through: no work tree, files from
 * git's objects, the same answers as a checkout (GitAppRepository) for the same commit.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it, onTestFinished } from "vitest";
import { pushFiles, tempGitRemote } from "../../test/helpers/git.js";
import { RecordingReporter } from "../ui/reporter.js";
import { GitTreeAppRepository } from "./app-tree.js";
import { GitAppRepository } from "./app-transaction.js";

describe("GitTreeAppRepository", () => {
  it("reads and lists the newest commit of the branch like a checkout does", async () => {
    // A file larger than a pipe's chunk, and many small ones read at once, in order.
    const big = randomBytes(300_000).toString("base64");
    const files: Record<string, string> = {
      "registry.conf": "[general]\n",
      "data/acme-app.json": big,
      "data/v1/acme-old.json": "{}",
      "manifests/acme-app/sha256:aa": "first",
      // Byte order of whole paths: "acme-app-x/" and "acme-app.x" sort around "acme-app/".
      "manifests/acme-app-x/sha256:bb": "neighbour",
      "manifests/acme-app.x": "a file beside the folder",
      "data/é-utf8.json": "non-ASCII name",
    };
    for (let i = 0; i < 50; i++) files[`manifests/acme-app/m${i}`] = `manifest ${i}`;
    // git's file list (about 170 bytes a file here) arrives in several chunks: entries cut between them.
    for (let i = 0; i < 800; i++) {
      files[`manifests/acme-many/sha256:${String(i).padStart(64, "0")}`] = `m${i}`;
    }
    const { remote } = await tempGitRemote({ files });
    await pushFiles(
      remote,
      "main",
      { "data/acme-app.json": `${big}!`, "data/acme-new.json": "new" },
      "second",
    );
    await pushFiles(remote, "other", { "data/elsewhere.json": "x" }, "another branch");

    const view = new GitTreeAppRepository({ remote, branch: "main" });
    const checkout = new GitAppRepository({ remote, branch: "main", reporter: new RecordingReporter() });
    onTestFinished(() => Promise.all([view.close(), checkout.close()]).then(() => undefined));
    view.warm();
    for (const dir of [
      "data",
      "data/v1",
      "manifests",
      "manifests/acme-app",
      "manifests/acme-app-x",
      "manifests/acme-many",
      "nothing/here",
    ]) {
      expect((await view.list(dir)).sort(), dir).toEqual((await checkout.list(dir)).sort());
    }
    expect((await view.list("data")).sort()).toEqual(["acme-app.json", "acme-new.json", "v1", "é-utf8.json"]);
    expect((await view.list("manifests/acme-app")).length).toBe(51);
    expect((await view.list("manifests/acme-many")).length).toBe(800);
    const reads = await Promise.all(Object.keys(files).map((f) => view.read(f)));
    const expected = await Promise.all(Object.keys(files).map((f) => checkout.read(f)));
    expect(reads.map((r, i) => r === expected[i])).toEqual(reads.map(() => true));
    expect((await view.read("data/acme-app.json")) === `${big}!`).toBe(true);
    expect(await view.read("data/elsewhere.json")).toBeUndefined();
    expect(await view.read("data")).toBeUndefined();
    expect(await view.read("../registry.conf")).toBeUndefined();
    // The history gc marks from: the earlier version of the replaced file, not the added ones.
    const since = new Date(Date.now() - 3_600_000);
    const replaced = await view.replacedSince(since, "data");
    expect(replaced.map((r) => [r.path, r.text === big])).toEqual([["data/acme-app.json", true]]);
    expect(replaced).toEqual(await checkout.replacedSince(since, "data"));
    await expect(view.update()).rejects.toThrow(/read-only/);
  });

  it("sees an empty repository (no branch yet) as empty", async () => {
    const { remote } = await tempGitRemote();
    const view = new GitTreeAppRepository({ remote, branch: "main" });
    onTestFinished(() => view.close());
    expect(await view.list("data")).toEqual([]);
    expect(await view.read("registry.conf")).toBeUndefined();
    expect(await view.replacedSince(new Date(Date.now() - 3_600_000), "data")).toEqual([]);
  });

  it("names the remote, without credentials, when it cannot be cloned", async () => {
    const view = new GitTreeAppRepository({
      remote: "http://user:secret@127.0.0.1:1/app.git",
      branch: "main",
    });
    onTestFinished(() => view.close());
    const failure = view.list("data");
    await expect(failure).rejects.toThrow(/127\.0\.0\.1:1/);
    await expect(failure).rejects.not.toThrow(/secret/);
  });
});
