import { describe, expect, it } from "vitest";
import type { IsvSettings } from "../config/types.js";
import { packageRoot } from "../adapters/package-root.js";
import { authKeySecret, renderResources, storageSecret } from "./platform-openshift.js";
import { parseTemplateYaml, TemplateYamlError } from "./platform-openshift-yaml.js";
import { IMAGE_AUTH_KEY_DIR, IMAGE_GIT_CREDENTIALS_DIR, registryConf } from "./registry-conf.js";
import { templateVars } from "./app-repo.js";
import { renderTemplateDir } from "./templates.js";

const appFiles = (s: IsvSettings) => renderTemplateDir(`${packageRoot()}/templates/app`, templateVars(s));

const settings = (storage: IsvSettings["storage"]): IsvSettings => ({
  isv: "acme",
  stateDir: "/state",
  isvDir: "/state/acme",
  storage,
  platform: {
    kind: "openshift",
    serverUrl: "https://api.cluster.example:6443",
    token: "t",
    namespace: "acme-prod",
    appName: "registry",
    scale: false,
    follow: false,
    routeHost: "registry-acme-prod.apps.cluster.example",
  },
  appUrl: "https://registry-acme-prod.apps.cluster.example",
  appRemote: "https://user:pw@git.example/acme/app.git",
  appBranch: "main",
  appWorkDir: "/state/acme/app",
  deployDir: undefined,
  maskLayers: [],
});

const s3 = (redirect: "public" | "presigned"): IsvSettings["storage"] => ({
  kind: "s3",
  bucket: "acme-images",
  endpoint: undefined,
  region: "us-east-1",
  forcePathStyle: false,
  credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "very-secret" },
  publicRead: false,
  redirect,
  presignTtl: 600,
  partSize: 16 << 20,
  concurrency: 4,
  publicBaseUrl: undefined,
});

describe("OpenShift resources", () => {
  it("renders every template into an object in the project, with TLS on the route and no git credentials", async () => {
    const objects = await renderResources(settings(s3("public")), packageRoot());
    expect(objects.map((o) => o.kind).sort()).toEqual([
      "BuildConfig",
      "Deployment",
      "HorizontalPodAutoscaler",
      "ImageStream",
      "Route",
      "Service",
    ]);
    for (const object of objects) expect(object.metadata.namespace).toBe("acme-prod");
    const byKind = Object.fromEntries(objects.map((o) => [o.kind, o])) as Record<
      string,
      Record<string, unknown>
    >;
    expect(byKind.Route?.spec).toMatchObject({
      host: "registry-acme-prod.apps.cluster.example",
      tls: { termination: "edge" },
    });
    expect(byKind.Deployment?.spec).toMatchObject({ replicas: 1 });
    expect(JSON.stringify(byKind.BuildConfig)).toContain('"uri":"https://git.example/acme/app.git"');
    expect(JSON.stringify(objects)).not.toContain("pw@");
    const container = (
      byKind.Deployment?.spec as { template: { spec: { containers: { ports: unknown }[] } } }
    ).template.spec.containers[0];
    expect(container?.ports).toEqual([{ name: "http", containerPort: 5000 }]);
  });

  it("puts storage credentials into a Secret only for presigned redirects", () => {
    expect(storageSecret(settings(s3("public")))).toBeUndefined();
    const secret = storageSecret(settings(s3("presigned")));
    expect(secret?.metadata.name).toBe("registry-storage");
    const data = secret?.data as Record<string, string>;
    expect(Buffer.from(data.AWS_SECRET_ACCESS_KEY ?? "", "base64").toString()).toBe("very-secret");
  });

  it("with [auth] on, presigns private repositories in public mode too, and mounts the signing keys", async () => {
    const withAuth = (storage: IsvSettings["storage"]): IsvSettings => ({
      ...settings(storage),
      auth: {
        mode: "local",
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
      },
    });
    expect(storageSecret(withAuth(s3("public")))?.metadata.name).toBe("registry-storage");
    const keys = authKeySecret(withAuth(s3("presigned")), '{"version":1}');
    expect(keys.metadata).toMatchObject({ name: "registry-auth-keys" });
    expect(
      Buffer.from((keys.data as Record<string, string>)["auth-keys.json"] ?? "", "base64").toString(),
    ).toBe('{"version":1}');
    const deployment = (await renderResources(withAuth(s3("presigned")), packageRoot())).find(
      (o) => o.kind === "Deployment",
    );
    const pod = (deployment?.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(pod.volumes).toEqual([
      { name: "auth-keys", secret: { secretName: "registry-auth-keys", optional: true, defaultMode: 256 } },
      { name: "git-credentials", secret: { secretName: "registry-git", optional: true, defaultMode: 256 } },
    ]);
    // Mounted read-only where registry.conf's key_dir points, and the only mount of the Secret.
    const containers = pod.containers as { name: string; volumeMounts?: unknown[] }[];
    expect(containers.map((c) => [c.name, c.volumeMounts])).toEqual([
      [
        "registry",
        [
          { name: "auth-keys", mountPath: IMAGE_AUTH_KEY_DIR, readOnly: true },
          { name: "git-credentials", mountPath: IMAGE_GIT_CREDENTIALS_DIR, readOnly: true },
        ],
      ],
    ]);
    // 256 = 0400; the kubelet adds group read for the pod's fsGroup, which the server accepts
    // there (key_group_read) and nowhere else.
    const conf = registryConf(withAuth(s3("presigned")));
    expect(conf).toContain(`key_dir = ${IMAGE_AUTH_KEY_DIR}\nkey_group_read = true\n`);
  });
});

describe("OpenShift replicas following the app repository (openshift_follow)", () => {
  const following = (remote: string): IsvSettings => {
    const base = settings(s3("presigned"));
    return {
      ...base,
      appRemote: remote,
      platform: { ...base.platform, follow: true } as IsvSettings["platform"],
    };
  };

  it("is off by default: no [metadata] section, and no git in the image", async () => {
    const plain = { ...settings(s3("presigned")), appRemote: "https://git.example/acme/app.git" };
    expect(registryConf(plain)).not.toContain("[metadata]");
    const containerfile = (await appFiles(plain)).find((f) => f.path === "Containerfile")?.data;
    expect(containerfile).not.toMatch(/apt-get install/);
  });

  it("follows app_git_url, installs git, mounts the <app>-git Secret read-only for GIT_ASKPASS, and writes no secret anywhere", async () => {
    const s = following("https://git.example/acme/app.git");
    const conf = registryConf(s);
    expect(conf).toContain(
      "\n[metadata]\nfollow = https://git.example/acme/app.git\nfollow_branch = main\nfollow_interval = 10\n",
    );
    const files = await appFiles(s);
    const containerfile = files.find((f) => f.path === "Containerfile")?.data ?? "";
    expect(containerfile).toMatch(/^RUN apt-get update && apt-get install -y --no-install-recommends git /m);
    expect(containerfile).toContain("COPY package.json registry.conf git-askpass.sh ./");
    expect(files.find((f) => f.path === "git-askpass.sh")?.data).toContain(
      'dir="${RAAS_GIT_CREDENTIALS:-/var/run/raas-git}"',
    );
    const objects = await renderResources(s, packageRoot());
    const deployment = objects.find((o) => o.kind === "Deployment");
    const pod = (deployment?.spec as { template: { spec: Record<string, unknown> } }).template.spec;
    expect(pod.volumes).toContainEqual({
      name: "git-credentials",
      secret: { secretName: "registry-git", optional: true, defaultMode: 256 },
    });
    const [container] = pod.containers as { env?: unknown[]; volumeMounts?: unknown[] }[];
    expect(container?.volumeMounts).toContainEqual({
      name: "git-credentials",
      mountPath: IMAGE_GIT_CREDENTIALS_DIR,
      readOnly: true,
    });
    expect(container?.env).toEqual([
      { name: "GIT_ASKPASS", value: "/app/git-askpass.sh" },
      { name: "RAAS_GIT_CREDENTIALS", value: IMAGE_GIT_CREDENTIALS_DIR },
    ]);
    // raas never holds the git credentials: no object it applies and no file it commits has them.
    const everything = JSON.stringify(objects) + files.map((f) => f.data.toString()).join("\n");
    expect(everything).not.toMatch(/"kind":"Secret"[^}]*registry-git/);
    expect(everything).not.toContain("pw@");
  });

  it("refuses an app_git_url with credentials in it, which registry.conf would carry into the image", () => {
    expect(() => registryConf(following("https://user:pw@git.example/acme/app.git"))).toThrow(
      /cannot follow https:\/\/\*\*\*@git\.example\/acme\/app\.git for acme: the URL holds credentials/,
    );
  });
});

describe("the template YAML", () => {
  it("reads mappings, sequences, quoted and flow values", () => {
    const text = [
      "# comment",
      "a: 1",
      "b: 'it''s # not a comment'",
      'c: "x\\"y"',
      "d:",
      "  - name: one",
      "    v: true",
      "  - plain",
      'e: ["ALL", x]',
      "f:",
      "- at key indent",
      "g: |",
      "  two",
      "  lines",
      "h: &shared { x: 1 }",
      "i: *shared",
    ].join("\n");
    expect(parseTemplateYaml(text, "t.yaml")).toEqual({
      a: 1,
      b: "it's # not a comment",
      c: 'x"y',
      d: [{ name: "one", v: true }, "plain"],
      e: ["ALL", "x"],
      f: ["at key indent"],
      g: "two\nlines\n",
      h: { x: 1 },
      i: { x: 1 },
    });
  });

  it("refuses what is not one JSON document, naming the file and line", () => {
    expect(() => parseTemplateYaml("a: 1\n---\nb: 2", "t.yaml")).toThrow(/t\.yaml:2: one document/);
    expect(() => parseTemplateYaml("a:\n  b: 1\n    c: 2", "t.yaml")).toThrow(TemplateYamlError);
    expect(() => parseTemplateYaml("a:\n  b: 1\n    c: 2", "t.yaml")).toThrow(/^t\.yaml:2: /);
    expect(() => parseTemplateYaml("a: 1\nb: 2\na: 3", "t.yaml")).toThrow(
      /t\.yaml:3: Map keys must be unique/,
    );
    expect(() => parseTemplateYaml("a: 1\n\tb: 2", "t.yaml")).toThrow(/t\.yaml:2: /);
    expect(() => parseTemplateYaml("a: [1, 2", "t.yaml")).toThrow(/t\.yaml:1: /);
    expect(() => parseTemplateYaml("a:\n  b: .inf", "t.yaml")).toThrow(
      "t.yaml.a.b: Infinity is not JSON data",
    );
    expect(() => parseTemplateYaml("? [x]\n: 1", "t.yaml")).toThrow("t.yaml: a key must be a scalar");
    expect(parseTemplateYaml("# nothing\n", "t.yaml")).toBeNull();
  });
});
