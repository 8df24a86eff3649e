import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../../errors.js";
import { askHelper, type HelperOptions } from "./cred-helper.js";
import { isJsonObject } from "../../image/records.js";

export interface Credentials {
  username: string;
  password: string;
  /**
   * An identity (refresh) token, as `docker login` stores it (`identitytoken`, or a credential
   * helper's Username `<token>`): traded at the token service with the refresh_token grant.
   * When set, username and password are not sent.
   */
  identityToken?: string;
  /** Where they came from, for messages (never the secret itself). */
  from: string;
}

export type LookupOptions = HelperOptions;

const AUTH_FILE_LIMIT = 1024 * 1024;

/**
 * The credential files raas reads, first match wins, in the order containers tools and docker
 * use them: REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * ~/.config/containers/auth.json, then $DOCKER_CONFIG/config.json or ~/.docker/config.json.
 */
export function authFiles(env: NodeJS.ProcessEnv): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, "containers", "auth.json"));
  if (env.HOME) files.push(join(env.HOME, ".config", "containers", "auth.json"));
  if (env.DOCKER_CONFIG) files.push(join(env.DOCKER_CONFIG, "config.json"));
  else if (env.HOME) files.push(join(env.HOME, ".docker", "config.json"));
  return files;
}

/** Docker Hub answers under several names; `docker login` files it under the first. */
const DOCKER_HUB = ["index.docker.io", "docker.io", "registry-1.docker.io"];
const DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/";

function canonicalHost(host: string): string {
  return DOCKER_HUB.includes(host) ? "docker.io" : host;
}

/** `https://index.docker.io/v1/` and `host/ns` keys, normalised to `host[/path]`. */
function normaliseKey(key: string): string {
  const normal = key
    .replace(/^https?:\/\//, "")
    .replace(/\/v[12]\/?$/, "")
    .replace(/\/+$/, "")
    .toLowerCase();
  const slash = normal.indexOf("/");
  return slash < 0 ? canonicalHost(normal) : `${canonicalHost(normal.slice(0, slash))}${normal.slice(slash)}`;
}

/** What docker hands a credential helper for a host (the Hub has its legacy URL). */
function helperServerUrl(host: string): string {
  return canonicalHost(host) === "docker.io" ? DOCKER_HUB_SERVER_URL : host;
}

function decodeAuth(value: string, file: string, key: string): { username: string; password: string } {
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) {
    throw new UserError(`${file}: the "auth" entry for ${key} is not base64 of user:password`, {
      hint: "Log in again (skopeo login / podman login / docker login) to rewrite it.",
    });
  }
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Looks up credentials for `host/name` in one auth file, in the order docker and containers
 * tools use: a `credHelpers` entry for the host, then the `credsStore` default helper, then the
 * `auths` entries (containers' auth.json allows keys scoped to a namespace, `host/acme`; the
 * most specific wins). A helper with nothing for the host lets the search go on.
 */
export async function credentialsFromFile(
  file: string,
  host: string,
  name: string,
  env: NodeJS.ProcessEnv = {},
  options: LookupOptions = {},
): Promise<Credentials | undefined> {
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > AUTH_FILE_LIMIT) throw new UserError(`${file}: larger than ${AUTH_FILE_LIMIT} bytes`);
    text = bytes.toString("utf8");
  } catch (err) {
    const code = err instanceof Error && "code" in err ? err.code : undefined;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new UserError(`${file}: not valid JSON`, {
      hint: "Fix or remove the file; raas reads registry credentials from it.",
    });
  }
  const { auths, credHelpers, credsStore }: Record<string, unknown> = isJsonObject(doc) ? doc : {};
  const canonical = canonicalHost(host);
  let helper: { name: string; where: string } | undefined;
  if (isJsonObject(credHelpers)) {
    for (const [key, value] of Object.entries(credHelpers)) {
      if (normaliseKey(key) !== canonical) continue;
      if (typeof value !== "string") {
        throw new UserError(`${file}: the credHelpers entry for ${key} is not a helper name`, {
          hint: 'Write "host": "name" to run docker-credential-name for that host.',
        });
      }
      if (value !== "") helper = { name: value, where: `${file} credHelpers` };
      break;
    }
  }
  if (credsStore !== undefined && typeof credsStore !== "string") {
    throw new UserError(`${file}: credsStore is not a helper name`, {
      hint: 'Write "credsStore": "name" to run docker-credential-name for every registry.',
    });
  }
  if (helper === undefined && typeof credsStore === "string" && credsStore !== "") {
    helper = { name: credsStore, where: `${file} credsStore` };
  }
  if (helper !== undefined) {
    const found = await askHelper(helper.name, helperServerUrl(host), helper.where, env, options);
    const from = `docker-credential-${helper.name} (${helper.where})`;
    if (found !== undefined) {
      return found.identityToken
        ? { username: "", password: "", identityToken: found.secret, from }
        : { username: found.username, password: found.secret, from };
    }
  }
  if (!isJsonObject(auths)) return undefined;
  const wanted = `${canonical}/${name}`;
  let best: { key: string; length: number } | undefined;
  for (const key of Object.keys(auths)) {
    const normal = normaliseKey(key);
    const matches = normal === canonical || wanted === normal || wanted.startsWith(`${normal}/`);
    if (matches && (best === undefined || normal.length > best.length)) best = { key, length: normal.length };
  }
  if (best === undefined) return undefined;
  const entry = auths[best.key];
  const auth = isJsonObject(entry) ? entry.auth : undefined;
  const identityToken = isJsonObject(entry) ? entry.identitytoken : undefined;
  if (typeof identityToken === "string" && identityToken !== "") {
    // docker keeps the user name next to an identity token; only the token is sent.
    return { username: "", password: "", identityToken, from: file };
  }
  if (typeof auth !== "string" || auth === "") return undefined;
  return { ...decodeAuth(auth, file, best.key), from: file };
}

/**
 * Credentials for a source registry: the named environment variables first (default
 * RAAS_SRC_USERNAME / RAAS_SRC_PASSWORD), then the auth files. undefined means anonymous.
 */
export async function findCredentials(
  env: NodeJS.ProcessEnv,
  host: string,
  name: string,
  vars: { username: string; password: string } = {
    username: "RAAS_SRC_USERNAME",
    password: "RAAS_SRC_PASSWORD",
  },
  options: LookupOptions = {},
): Promise<Credentials | undefined> {
  const username = env[vars.username];
  const password = env[vars.password];
  if (username !== undefined && username !== "") {
    if (password === undefined) {
      throw new UserError(`${vars.username} is set but ${vars.password} is not`, {
        hint: `Set both, or neither to use the credentials of skopeo/podman/docker login.`,
      });
    }
    return { username, password, from: `$${vars.username}` };
  }
  for (const file of authFiles(env)) {
    const found = await credentialsFromFile(file, host, name, env, options);
    if (found !== undefined) return found;
  }
  return undefined;
}
