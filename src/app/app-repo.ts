/**
 * The ISV app repository: rendered from templates/, plus registry.conf, package.json and the
 * server runtime. ensureAppRepo makes the remote match what this raas version would create
 * and pushes only when something changed. Published metadata goes through GitAppRepository
 * (app-transaction.ts).
 */
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import type { IsvSettings } from "../config/types.js";
import type { Reporter } from "../ui/reporter.js";
import { writeFileInside } from "../adapters/files.js";
import { commitAndPushRecomputing, ensureClone } from "../adapters/git.js";
import { redactUrl } from "../adapters/git-errors.js";
import { packageRoot } from "../adapters/package-root.js";
import { authAppFiles, ensureAuthKeys } from "./auth-setup.js";
import { ensureLocalDeploy } from "./platform-local.js";
import { registryConf, type ServerConfigOptions } from "./registry-conf.js";
import { loadServerRuntime, serverCommand, writeServerRuntime } from "./server-runtime.js";
import { renderTemplateDir, type TemplateVars } from "./templates.js";

export interface EnsureAppRepoOptions {
  reporter: Reporter;
  serverConfig?: ServerConfigOptions;
  /** Where templates/ and dist/ are; default: this package. */
  packageRoot?: string;
}

export interface EnsureAppRepoResult {
  workDir: string;
  /** The app remote, safe to print. */
  remote: string;
  commit?: string;
  changed: boolean;
}

/** The placeholder values of templates/app (also used to render the OpenShift resources setup applies). */
export function templateVars(settings: IsvSettings): TemplateVars {
  const { platform, storage } = settings;
  const openshift = platform.kind === "openshift" ? platform : undefined;
  const scale = openshift?.scale ?? true;
  // Credentials in the git URL must never land in a committed BuildConfig.
  const gitUrl = redactUrl(settings.appRemote).replace("://***@", "://");
  return {
    isv: settings.isv,
    app_name: openshift?.appName ?? "registry",
    namespace: openshift?.namespace ?? settings.isv,
    route_host: openshift?.routeHost ?? "",
    git_url: gitUrl,
    git_branch: settings.appBranch,
    // Following the app repository needs git in the image (Containerfile).
    git_install:
      openshift?.follow === true
        ? "RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/*"
        : "# git is installed only with openshift_follow = true (the replicas then follow the app repository).",
    // How the image runs the server, for a reader (the Containerfile's CMD says it as a list).
    server_command: serverCommand().join(" "),
    min_replicas: scale ? "2" : "1",
    max_replicas: scale ? "10" : "1",
    registry_host: new URL(settings.appUrl).host,
    storage_description:
      storage.kind === "s3"
        ? `the S3 bucket \`${storage.bucket}\``
        : `the local directory \`${storage.root}\``,
  };
}

async function appPackageJson(root: string, isv: string): Promise<string> {
  const ours = JSON.parse(await readFile(path.join(root, "package.json"), "utf8")) as { version?: string };
  // No dependencies: the server bundle carries its own (see scripts/build-server.mjs).
  const pkg = {
    name: `${isv}-registry`,
    version: "1.0.0",
    private: true,
    description: `The ${isv} container registry app, maintained by raas ${ours.version ?? ""}`.trim(),
    type: "module",
    engines: { node: ">=20" },
    scripts: { start: serverCommand().join(" ") },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

/** Every file setup owns in the app repository (path -> content); server/ is handled apart. */
async function setupFiles(settings: IsvSettings, options: EnsureAppRepoOptions, root: string) {
  const files = await renderTemplateDir(path.join(root, "templates", "app"), templateVars(settings));
  files.push(
    { path: "registry.conf", data: registryConf(settings, options.serverConfig) },
    { path: "package.json", data: await appPackageJson(root, settings.isv) },
    { path: "data/.gitkeep", data: "" },
    { path: "manifests/.gitkeep", data: "" },
  );
  return files;
}

/**
 * Create or repair the app repository and deploy it. Idempotent: when the remote already holds
 * exactly what this raas would write, nothing is committed or pushed. Metadata in data/ and
 * manifests/ is never touched here.
 */
export async function ensureAppRepo(
  settings: IsvSettings,
  options: EnsureAppRepoOptions,
): Promise<EnsureAppRepoResult> {
  const { reporter } = options;
  const root = options.packageRoot ?? packageRoot();
  const remote = redactUrl(settings.appRemote);
  // Read the runtime first: an unbuilt raas fails before anything is written.
  const runtime = await loadServerRuntime(root);
  if (settings.platform.kind === "local") {
    const deploy = await ensureLocalDeploy(settings);
    if (deploy.changed) reporter.debug(`created the app remote ${deploy.remote} with its deploy hook`);
  }
  const workDir = settings.appWorkDir;
  const files = await setupFiles(settings, options, root);
  // Signing keys live in the state dir (never in the repository); the server reads them at start.
  if (await ensureAuthKeys(settings)) reporter.debug(`signing keys in ${settings.isvDir}`);
  reporter.debug(`updating ${workDir} from ${remote} (${settings.appBranch})`);
  // Another setup or publish may push first; then start again from its commit and write our
  // files on top (they never touch data/ or manifests/, so nothing of theirs is lost).
  const { commit } = await commitAndPushRecomputing({
    branch: settings.appBranch,
    message: `${settings.isv} setup`,
    attempts: 5,
    prepare: async () => {
      await ensureClone(settings.appRemote, workDir, { branch: settings.appBranch });
      for (const file of files) await writeFileInside(workDir, file.path, file.data);
      const existing = (rel: string) => readFile(path.join(workDir, rel), "utf8").catch(() => undefined);
      for (const file of await authAppFiles(settings, existing)) {
        await writeFileInside(workDir, file.path, file.data);
      }
      await writeServerRuntime(path.join(workDir, "server"), runtime);
      return workDir;
    },
    onRace: (attempt) => reporter.debug(`push to ${remote} lost a race, retrying (${attempt})`),
  });
  if (commit === undefined) return { workDir, remote, changed: false };
  reporter.debug(`pushed ${commit.slice(0, 12)} to ${remote}`);
  return { workDir, remote, commit, changed: true };
}
