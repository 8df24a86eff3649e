import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../../errors.js";
import { isJsonObject } from "../../image/records.js";

export interface Credentials {
  username: string;
  password: string;
  /** Where they came from, for messages (never the secret itself). */
  from: string;
}

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

/** `https://index.docker.io/v1/` and `host/ns` keys, normalised to `host[/path]`. */
function normaliseKey(key: string): string {
  return key
    .replace(/^https?:\/\//, "")
    .replace(/\/v[12]\/?$/, "")
    .replace(/\/+$/, "")
    .toLowerCase();
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
 * Looks up credentials for `host/name` in one auth file. containers' auth.json allows keys
 * scoped to a namespace (`host/acme`), the most specific wins; docker keys are whole hosts.
 */
export async function credentialsFromFile(
  file: string,
  host: string,
  name: string,
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
  const auths = isJsonObject(doc) ? doc.auths : undefined;
  if (!isJsonObject(auths)) return undefined;
  const wanted = `${host}/${name}`;
  let best: { key: string; length: number } | undefined;
  for (const key of Object.keys(auths)) {
    const normal = normaliseKey(key);
    const matches = normal === host || wanted === normal || wanted.startsWith(`${normal}/`);
    if (matches && (best === undefined || normal.length > best.length)) best = { key, length: normal.length };
  }
  if (best === undefined) return undefined;
  const entry = auths[best.key];
  const auth = isJsonObject(entry) ? entry.auth : undefined;
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
    const found = await credentialsFromFile(file, host, name);
    if (found !== undefined) return found;
  }
  return undefined;
}
