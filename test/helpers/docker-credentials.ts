/**
 * Docker's client-side credentials as `docker login` leaves them: `~/.docker/config.json`, and
 * credential helpers, real programs named `docker-credential-<name>` on PATH.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export type HelperAnswers = Record<string, { Username: string; Secret: string }>;

/**
 * Writes `<bin>/docker-credential-<name>`: `get` answers `answers[server]`, anything else
 * "credentials not found" (exit 1), as docker's helpers do. Each call is appended to
 * `<bin>/<name>.log` as `<action> <server>`.
 */
export async function writeCredentialHelper(
  bin: string,
  name: string,
  answers: HelperAnswers,
): Promise<void> {
  const file = join(bin, `docker-credential-${name}`);
  await writeFile(
    file,
    [
      `#!${process.execPath}`,
      'const fs = require("node:fs");',
      `const answers = ${JSON.stringify(answers)};`,
      "let server = '';",
      "process.stdin.on('data', (c) => (server += c));",
      "process.stdin.on('end', () => {",
      `  fs.appendFileSync(${JSON.stringify(join(bin, `${name}.log`))}, process.argv[2] + " " + server + "\\n");`,
      "  const found = answers[server.trim()];",
      "  if (process.argv[2] !== 'get' || found === undefined) {",
      "    process.stdout.write('credentials not found in native keychain\\n');",
      "    process.exit(1);",
      "  }",
      "  process.stdout.write(JSON.stringify({ ServerURL: server, ...found }));",
      "});",
      "",
    ].join("\n"),
  );
  await chmod(file, 0o755);
}

/** Writes `<home>/.docker/config.json`. */
export async function writeDockerConfig(home: string, doc: unknown): Promise<void> {
  await mkdir(join(home, ".docker"), { recursive: true });
  await writeFile(join(home, ".docker", "config.json"), JSON.stringify(doc));
}
