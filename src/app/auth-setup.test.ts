import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePolicy, POLICY_FILE } from "../auth/index.js";
import type { AuthConfig, IsvSettings } from "../config/types.js";
import { UserError } from "../errors.js";
import { authAppFiles, checkPrivateBlobs } from "./auth-setup.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "raas-auth-setup-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const auth = (mode: AuthConfig["mode"]): AuthConfig => ({
  mode,
  tokenTtl: 300,
  privateBlobTtl: 300,
  basic: false,
  external: {
    realm: undefined,
    issuer: undefined,
    service: undefined,
    rootCerts: undefined,
    jwks: undefined,
  },
});

function settings(mode: AuthConfig["mode"], s3: { publicRead: boolean; redirect: "public" | "presigned" }) {
  return {
    isv: "acme",
    isvDir: dir,
    storage: {
      kind: "s3",
      bucket: "acme-images",
      endpoint: undefined,
      region: "us-east-1",
      forcePathStyle: false,
      credentials: undefined,
      presignTtl: 900,
      partSize: 16 << 20,
      concurrency: 4,
      publicBaseUrl: undefined,
      ...s3,
    },
    auth: auth(mode),
  } as unknown as IsvSettings;
}

const policy = (anonymous: string) =>
  parsePolicy(`version: 1\nregistry:\n  mode: restricted\n  anonymousPull: [${anonymous}]\n`);

describe("setup refuses public objects for private repositories", () => {
  it("refuses public_read and public redirects unless every repository is anonymous", () => {
    const refusal = (() => {
      try {
        checkPrivateBlobs(
          settings("local", { publicRead: true, redirect: "presigned" }),
          policy('"public/**"'),
        );
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(refusal).toBeInstanceOf(UserError);
    expect((refusal as UserError).message).toMatch(
      /\[s3\] public_read = true makes their blobs public objects in acme-images/,
    );
    expect((refusal as UserError).hint).toMatch(/redirect = presigned/);
    expect(() =>
      checkPrivateBlobs(settings("local", { publicRead: false, redirect: "public" }), policy('"public/**"')),
    ).toThrow(/\[s3\] redirect = public/);
    expect(() =>
      checkPrivateBlobs(settings("external", { publicRead: false, redirect: "public" }), undefined),
    ).toThrow(/mode = external/);
    // Allowed: presigned private objects, everything anonymous, or no auth at all.
    checkPrivateBlobs(settings("local", { publicRead: false, redirect: "presigned" }), policy('"public/**"'));
    checkPrivateBlobs(settings("local", { publicRead: true, redirect: "public" }), policy('"**"'));
    checkPrivateBlobs(settings("off", { publicRead: true, redirect: "public" }), undefined);
  });

  it("writes an empty access.yaml only when the app repository has none", async () => {
    const safe = settings("local", { publicRead: false, redirect: "presigned" });
    const created = await authAppFiles(safe, () => Promise.resolve(undefined));
    expect(created.map((f) => f.path)).toEqual([POLICY_FILE]);
    expect(parsePolicy(created[0]?.data ?? "").users.size).toBe(0);
    expect(await authAppFiles(safe, () => Promise.resolve("version: 1\n"))).toEqual([]);
    await expect(
      authAppFiles(settings("local", { publicRead: true, redirect: "presigned" }), () =>
        Promise.resolve(undefined),
      ),
    ).rejects.toThrow(/refusing to set up acme/);
  });
});
