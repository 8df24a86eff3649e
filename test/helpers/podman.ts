import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { verifyOciDir } from "./skopeo.js";

const run = promisify(execFile);

/**
 * Arguments that give podman throw-away storage of its own under `dir`: no overlay mounts (vfs),
 * so the test's temp dir can be removed afterwards, and nothing shared with the machine's podman.
 */
export function podmanStorage(dir: string): string[] {
  return ["--root", join(dir, "root"), "--runroot", join(dir, "run"), "--storage-driver", "vfs"];
}

/**
 * podman with its own throw-away storage under `<root>/podman` pulls `<host>/<from>` from a
 * plain-HTTP registry and pushes the image to `<host>/<to>` as carol; skopeo then copies `to`
 * back into `<root>/pulled-podman`, checked as verifyOciDir checks it (what it returns).
 */
export async function podmanRepush(root: string, host: string, from: string, to: string, timeout: number) {
  const podman = (args: string[]) =>
    run("podman", [...podmanStorage(join(root, "podman")), ...args], { timeout });
  await podman(["pull", "-q", "--tls-verify=false", `docker://${host}/${from}`]);
  const { stdout: images } = await podman(["images", "-q"]);
  const imageId = images.trim().split("\n")[0] ?? "";
  await podman(["push", "--tls-verify=false", "--creds", "carol:pw", imageId, `docker://${host}/${to}`]);
  const out = join(root, "pulled-podman");
  await run("skopeo", ["copy", "--src-tls-verify=false", `docker://${host}/${to}`, `oci:${out}:x`], {
    timeout,
  });
  return verifyOciDir(out);
}
