import { chmod, readFile, stat } from "node:fs/promises";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir, writeTree } from "../../test/helpers/git.js";
import { recordIsvSection } from "./conf-repo-section.js";
import { loadConfig } from "./load.js";

const modeOf = async (file: string) => (await stat(file)).mode & 0o777;

async function configIn(dir: string) {
  return loadConfig({ cwd: dir, env: { HOME: dir, RAAS_HOME: path.join(dir, "state") } });
}

describe("recording an ISV's setup choices", () => {
  it("appends the section to raas.cfg and keeps the file's mode (it may hold keys)", async () => {
    for (const mode of [0o600, 0o640, 0o644]) {
      const dir = await tempDir();
      await writeTree(dir, {
        "raas.cfg": "[aws]\naws_access_key = AKIAEXAMPLE\naws_secret_access_key = s3cr3t\n",
      });
      const file = path.join(dir, "raas.cfg");
      await chmod(file, mode);
      const written = await recordIsvSection(
        await configIn(dir),
        "acme",
        { s3bucket: "acme-images" },
        {
          storage: "s3",
        },
      );
      expect(written).toBe(file);
      expect(await readFile(file, "utf8")).toContain("[acme]\ns3_bucket = acme-images\n");
      expect(await modeOf(file), `mode ${mode.toString(8)}`).toBe(mode);
    }
  });

  it("on built-in defaults, creates the state file 0600", async () => {
    const dir = await tempDir();
    const config = await configIn(dir);
    const written = await recordIsvSection(config, "acme", { s3bucket: "acme-images" }, { storage: "s3" });
    expect(written).toBe(path.join(dir, "state", "acme", "setup.json"));
    expect(await modeOf(written ?? "")).toBe(0o600);
  });
});
