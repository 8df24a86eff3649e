/// <reference lib="dom" />
/**
 * The web page in a real browser: Debian's chromium, headless, driven by playwright-core (which
 * downloads nothing: the executable path is given). The registry runs as its real process
 * (dist/server-bundle/main.js, the bundle `npm run build` makes) over a fixture app repo. The flow a user follows:
 * list -> search -> repository -> tag -> copy a pull command with the keyboard; then the copied
 * skopeo command runs against the same server. axe-core checks every main page in light and dark,
 * and the screenshots of docs/web/ are taken here (see SHOTS).
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { appendFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureLocalTls } from "../../src/app/local-tls.js";
import type { IsvSettings } from "../../src/config/types.js";
import { createRegistryApp } from "../../src/server/app.js";
import { loadServerConfig } from "../../src/server/config.js";
import { loadSnapshot } from "../../src/server/snapshot.js";
import { HtmlValidate } from "html-validate";
import { packageRoot } from "../../src/adapters/package-root.js";
import { PASSWORDS } from "../../src/auth/testing/policy-fixture.js";
import { rawRequest } from "../../src/server/testing/fixture.js";
import { verifyOciDir } from "../helpers/skopeo.js";
import { freePort } from "../helpers/server-process.js";
import { LOGIN_REPOS, makeLoginApp, makeWebApp, type LoginApp, type WebApp } from "./fixture.js";

const CHROMIUM = process.env.RAAS_CHROMIUM ?? "/usr/bin/chromium";
const MAIN = join(packageRoot(), "dist", "server-bundle", "main.js");
// Screenshots go to test-output/web/ (ignored by git); RAAS_UPDATE_SCREENSHOTS=1 writes the ones
// docs/web.md shows, when the page changed.
const SHOTS =
  process.env.RAAS_UPDATE_SCREENSHOTS === "1"
    ? join(packageRoot(), "docs", "web")
    : join(packageRoot(), "test-output", "web");
const run = promisify(execFile);
const hasChromium = existsSync(CHROMIUM);

if (!hasChromium) {
  console.warn(`web browser tests skipped: no Chromium at ${CHROMIUM} (install Debian's chromium package)`);
}

async function startServerProcess(
  configPath: string,
  port = 0,
): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} is missing: run \`npm run build\` before the browser tests`);
  }
  const child = spawn(
    process.execPath,
    [MAIN, "--config", configPath, "--host", "127.0.0.1", "--port", String(port)],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (out += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the registry did not start: ${out}`)), 15_000);
    child.once("exit", (code) => reject(new Error(`the registry exited with ${code}: ${out}`)));
    child.stdout?.on("data", () => {
      const m = /"event":"listening","url":"([^"]+)"/.exec(out);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
  return { url, child, output: () => out };
}

/**
 * SIGTERM the registry and wait until it has exited (SIGKILL after 10 s): its workers may still be
 * writing into the app repo, and removing that folder under them fails with ENOTEMPTY.
 */
async function stopServerProcess(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * The layer contents of the image skopeo wrote to an `oci:` directory (every blob checked against
 * its digest). The fixture's layers are not really gzip, so skopeo compresses them on the way:
 * what must match is the content.
 */
async function pulledLayers(dir: string): Promise<Buffer[]> {
  const { layers } = await verifyOciDir(dir);
  const blobs = join(dir, "blobs", "sha256");
  return Promise.all(layers.map(async (d) => gunzipSync(await readFile(join(blobs, d.slice(7))))));
}

interface AxeResult {
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[];
}

/** Collects CSP reports and script errors of a page. */
function watchCsp(page: Page, errors: string[]): void {
  page.on("console", (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) errors.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(`page error: ${err.message}`));
}

/** axe-core on the page as it is now: no serious or critical violation. */
async function checkAxe(page: Page, axe: string, where: string): Promise<void> {
  await page.evaluate(axe);
  const result = (await page.evaluate(() =>
    (window as unknown as { axe: { run(): Promise<unknown> } }).axe.run(),
  )) as AxeResult;
  const serious = result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target))}`);
  expect(serious, `axe-core on ${where}`).toEqual([]);
}

const axeSource = async () => readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

describe.skipIf(!hasChromium)("web page in headless Chromium", () => {
  let app: WebApp;
  let server: { url: string; child: ChildProcess; output: () => string };
  let browser: Browser;
  let context: BrowserContext;
  let work: string;
  let axe: string;
  const cspErrors: string[] = [];

  const watch = (page: Page) => watchCsp(page, cspErrors);
  const checkA11y = (page: Page, where: string) => checkAxe(page, axe, where);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-web-browser-"));
    axe = await axeSource();
    app = await makeWebApp();
    server = await startServerProcess(app.repo.configPath);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
  });
  afterAll(async () => {
    await browser?.close();
    await stopServerProcess(server?.child);
    await app?.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it("list -> search -> repository -> tag -> copy the pull command, which skopeo then runs", async () => {
    const page = await context.newPage();
    watch(page);
    // A browser asking for `/` lands on the list.
    await page.goto(`${server.url}/`);
    expect(new URL(page.url()).pathname).toBe("/ui/");
    await expect(page.locator("#repos tbody tr").count()).resolves.toBe(3);

    // Keyboard: skip link first, then the home link, then the search box.
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    await page.keyboard.press("Tab");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("q");

    // Instant filter while typing, then the server-side search on Enter.
    await page.keyboard.type("acme");
    await page.waitForFunction(() => document.querySelectorAll("#repos tbody tr:not([hidden])").length === 1);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "1 of 3 shown");
    await Promise.all([page.waitForURL(/\/ui\/\?q=acme$/), page.keyboard.press("Enter")]);
    await expect(page.locator("#repos tbody tr").count()).resolves.toBe(1);

    // Repository, then tag, following links with the keyboard.
    await Promise.all([
      page.waitForURL(/\/ui\/r\/acme\/app$/),
      page.getByRole("link", { name: "acme/app" }).press("Enter"),
    ]);
    await expect(page.locator("h1").textContent()).resolves.toBe("acme/app");
    await expect(page.locator("#tag-table tbody tr").count()).resolves.toBe(3);
    await Promise.all([
      page.waitForURL(/\/ui\/r\/acme\/app\/-\/t\/latest$/),
      page.locator("#tag-table").getByRole("link", { name: "latest", exact: true }).press("Enter"),
    ]);

    // Copy the skopeo command by tag with the keyboard and read it back from the clipboard.
    const button = page.getByRole("button", { name: "Copy the skopeo command (by tag latest)" });
    await button.focus();
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("Copied"));
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    const shown = await page.locator("#pull-tag-skopeo").textContent();
    expect(copied).toBe(shown);
    const host = new URL(server.url).host;
    expect(copied).toBe(`skopeo copy --src-tls-verify=false docker://${host}/acme/app:latest oci:app:latest`);

    // Run it exactly as copied (every word is a validated name, so splitting on spaces is the shell's split).
    const [tool, ...args] = copied.split(" ");
    expect(tool).toBe("skopeo");
    await run("skopeo", args, { cwd: work, timeout: 60_000 });
    const latest = app.acme.publication.manifests.find((m) => m.digest === app.acme.publication.tags.latest);
    expect(await pulledLayers(join(work, "app"))).toEqual(
      latest?.refs.slice(1).map((d) => app.acme.blobBytes.get(d)),
    );

    // The by-digest form too.
    await page.getByRole("button", { name: "Copy the skopeo command (by digest)" }).press("Enter");
    await page.waitForFunction(() => document.getElementById("status")?.textContent?.includes("@sha256:"));
    const byDigest = await page.evaluate(() => navigator.clipboard.readText());
    expect(byDigest).toContain(`@${app.acme.publication.tags.latest}`);
    await rm(join(work, "app"), { recursive: true, force: true });
    await run("skopeo", byDigest.split(" ").slice(1), { cwd: work, timeout: 60_000 });
    expect(await pulledLayers(join(work, "app"))).toEqual(
      latest?.refs.slice(1).map((d) => app.acme.blobBytes.get(d)),
    );

    expect(cspErrors).toEqual([]);
    await page.close();
  });

  it("sorts tags from the column headers", async () => {
    const page = await context.newPage();
    await page.goto(`${server.url}/ui/r/acme/app`);
    await page.getByRole("link", { name: "Size" }).click();
    await page.getByRole("link", { name: /^Size/ }).click();
    expect(page.url()).toContain("sort=size&order=desc");
    const order = await page
      .locator("#tag-table tbody tr")
      .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-key")));
    expect(order).toEqual(["1.0", "latest", "multi"]);
    await expect(page.locator('th[aria-sort="descending"]').textContent()).resolves.toContain("Size");
    await page.close();
  });

  it("keeps the environments and pull-chart sections accessible (server with plug-ins, in process)", async () => {
    const config = await loadServerConfig(app.repo.configPath, {});
    const snapshot = await loadSnapshot(config, () => undefined);
    const days = Array.from({ length: 30 }, (_, i) => ({
      day: new Date(Date.UTC(2025, 4, 1 + i)).toISOString().slice(0, 10),
      pulls: (i * 37) % 50,
    }));
    const inProcess = createServer(
      createRegistryApp({
        config,
        snapshot: () => snapshot,
        web: {
          environments: () => [{ name: "production", since: "2025-05-01T00:00:00Z" }],
          pullStats: () => days,
        },
      }),
    );
    await new Promise<void>((resolve) => inProcess.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(inProcess.address() as AddressInfo).port}`;
    const page = await context.newPage();
    watch(page);
    try {
      for (const scheme of ["light", "dark"] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.goto(`${url}/ui/r/acme/app/-/t/latest`);
        await expect(page.locator("svg.chart rect.bar").count()).resolves.toBe(30);
        await page.locator("figure").screenshot({ path: join(SHOTS, `pulls-${scheme}.png`) });
        await page.getByText("Pulls per day as a table").click();
        await expect(page.locator("figure table tbody tr").count()).resolves.toBe(30);
        await checkA11y(page, `tag page with environments and pull chart (${scheme})`);
      }
      expect(cspErrors).toEqual([]);
    } finally {
      await page.close();
      inProcess.closeAllConnections();
      await new Promise<void>((resolve) => inProcess.close(() => resolve()));
    }
  });

  const pages = [
    { name: "list", path: "/ui/" },
    { name: "repository", path: "/ui/r/acme/app" },
    { name: "image", path: "/ui/r/hostile/app/-/t/constructor" },
    { name: "multi-platform", path: "/ui/r/acme/app/-/t/multi" },
    { name: "not-found", path: "/ui/r/no/such" },
  ];

  it("has no serious accessibility violations, in light and dark, and fits a phone", async () => {
    await mkdir(SHOTS, { recursive: true });
    for (const scheme of ["light", "dark"] as const) {
      const page = await context.newPage();
      watch(page);
      await page.emulateMedia({ colorScheme: scheme });
      for (const p of pages) {
        await page.goto(`${server.url}${p.path}`);
        await checkA11y(page, `${p.path} (${scheme})`);
        if (p.name !== "not-found") {
          await page.screenshot({
            path: join(SHOTS, `${p.name}-${scheme}.png`),
            fullPage: p.name !== "list",
          });
        }
      }
      await page.close();
    }
    const phone = await browser.newContext({
      viewport: { width: 375, height: 740 },
      isMobile: true,
      hasTouch: true,
    });
    const page = await phone.newPage();
    watch(page);
    for (const p of pages) {
      await page.goto(`${server.url}${p.path}`);
      // Nothing wider than the screen: long digests wrap, wide tables scroll inside their own region.
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(width, `${p.path} on a phone`).toBeLessThanOrEqual(375);
      await checkA11y(page, `${p.path} (phone)`);
      if (p.name === "list" || p.name === "image") {
        await page.screenshot({ path: join(SHOTS, `${p.name}-phone.png`), fullPage: p.name === "image" });
      }
    }
    await phone.close();
    expect(cspErrors).toEqual([]);
  });
});

describe.skipIf(!hasChromium)("web page in headless Chromium, over HTTPS from raas's local CA", () => {
  let app: WebApp;
  let server: { url: string; child: ChildProcess; output: () => string };
  let browser: Browser;
  let work: string;
  let certDir: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-web-tls-"));
    app = await makeWebApp();
    // What `raas setup` makes: the local CA, the ISV's certificate, certs/ca.crt for clients,
    // and registry.conf's [raas] TLS keys naming them.
    const stateDir = join(work, "state");
    const isvDir = join(stateDir, "acme");
    certDir = join(isvDir, "certs");
    const tls = {
      managed: true,
      certFile: join(isvDir, "tls", "server.crt"),
      keyFile: join(isvDir, "tls", "server.key"),
      caFile: join(stateDir, "raas-ca", "ca.crt"),
      certDir,
      hosts: ["localhost", "127.0.0.1"],
    };
    await ensureLocalTls({ isv: "acme", stateDir, isvDir, tls } as IsvSettings);
    await appendFile(
      app.repo.configPath,
      `tls_cert = ${tls.certFile}\ntls_key = ${tls.keyFile}\ntls_cert_dir = ${certDir}\n`,
    );
    server = await startServerProcess(app.repo.configPath);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });
  afterAll(async () => {
    await browser?.close();
    await stopServerProcess(server?.child);
    await app?.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it("shows the pull commands with --cert-dir and where the CA is; the copied skopeo command pulls", async () => {
    expect(server.url).toMatch(/^https:/);
    // The browser does not trust raas's CA either; the page is looked at, not the browser's trust.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
    const page = await context.newPage();
    const host = new URL(server.url).host;
    await page.goto(`${server.url}/ui/r/acme/app/-/t/latest`);
    await page.getByRole("button", { name: "Copy the skopeo command (by tag latest)" }).press("Enter");
    await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("Copied"));
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(
      `skopeo copy --src-cert-dir ${certDir} docker://${host}/acme/app:latest oci:app:latest`,
    );
    await expect(page.locator("#pull-tag-podman").textContent()).resolves.toBe(
      `podman pull --cert-dir ${certDir} ${host}/acme/app:latest`,
    );
    const note = await page.locator("#ca-note").textContent();
    expect(note).toContain(`${certDir}/ca.crt`);
    expect(note).toContain(`/etc/containers/certs.d/${host}/ca.crt`);

    // As copied, with verification on: it fails with x509 unknown authority without the option.
    const [tool, ...args] = copied.split(" ");
    expect(tool).toBe("skopeo");
    await run("skopeo", args, { cwd: work, timeout: 60_000 });
    const latest = app.acme.publication.manifests.find((m) => m.digest === app.acme.publication.tags.latest);
    expect(await pulledLayers(join(work, "app"))).toEqual(
      latest?.refs.slice(1).map((d) => app.acme.blobBytes.get(d)),
    );

    // The repository page's pull command too.
    await page.goto(`${server.url}/ui/r/acme/app`);
    await expect(page.locator("#pull-default-skopeo").textContent()).resolves.toContain(
      `--src-cert-dir ${certDir} `,
    );
    await expect(page.locator("#ca-note").count()).resolves.toBe(1);
    await context.close();
  });
});

describe.skipIf(!hasChromium)("web page in headless Chromium, with login", () => {
  let app: LoginApp;
  let server: { url: string; child: ChildProcess; output: () => string };
  let browser: Browser;
  let work: string;
  let axe: string;
  let host: string;
  const cspErrors: string[] = [];
  const validator = new HtmlValidate({ extends: ["html-validate:recommended"] });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "raas-web-login-"));
    axe = await axeSource();
    const port = await freePort();
    app = await makeLoginApp(port);
    server = await startServerProcess(app.repo.configPath, port);
    host = new URL(server.url).host;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  });
  afterAll(async () => {
    await browser?.close();
    await stopServerProcess(server?.child);
    await app?.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  const rows = (page: Page) =>
    page.locator("#repos tbody tr").evaluateAll((trs) => trs.map((r) => r.getAttribute("data-key")));

  /** Tab through the page until the element with `id` has the focus. */
  async function tabTo(page: Page, id: string): Promise<void> {
    for (let i = 0; i < 12; i++) {
      if ((await page.evaluate(() => document.activeElement?.id)) === id) return;
      await page.keyboard.press("Tab");
    }
    throw new Error(`#${id} never got the focus`);
  }

  it("anonymous sees public repositories only; logs in by keyboard, pulls the private one, logs out", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
    const page = await context.newPage();
    watchCsp(page, cspErrors);
    await page.goto(`${server.url}/ui/`);
    expect(await rows(page)).toEqual([LOGIN_REPOS.public]);

    // The header's "Log in" link, by keyboard.
    await page.keyboard.press("Tab"); // skip link
    await page.keyboard.press("Tab"); // home
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Log in");
    await Promise.all([page.waitForURL(/\/ui\/login$/), page.keyboard.press("Enter")]);

    // A wrong password first: the message, and no session.
    await tabTo(page, "username");
    await page.keyboard.type("alice");
    await page.keyboard.press("Tab");
    await page.keyboard.type("not-the-password");
    await Promise.all([page.waitForLoadState("load"), page.keyboard.press("Enter")]);
    await expect(page.getByRole("alert").textContent()).resolves.toBe("Wrong username or password.");
    expect(await page.locator("#password").inputValue()).toBe("");
    expect(await page.content()).not.toContain("not-the-password");
    expect((await context.cookies()).length).toBe(0);
    await checkAxe(page, axe, "login page with an error");

    // Then the right one (the name is kept in the form).
    expect(await page.locator("#username").inputValue()).toBe("alice");
    await page.locator("#password").focus();
    await page.keyboard.type(PASSWORDS.alice as string);
    await Promise.all([page.waitForURL(/\/ui\/$/), page.keyboard.press("Enter")]);
    await expect(page.locator("#visitor").textContent()).resolves.toBe("alice");
    expect(await rows(page)).toEqual([LOGIN_REPOS.app, LOGIN_REPOS.public, LOGIN_REPOS.alice]);
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: "raas-session", path: "/ui/", httpOnly: true, sameSite: "Strict" });
    // The script cannot read it.
    expect(await page.evaluate(() => document.cookie)).toBe("");
    await checkAxe(page, axe, "list, logged in");

    // The private repository, its tag, and the copied pull command.
    await Promise.all([
      page.waitForURL(new RegExp(`/ui/r/${LOGIN_REPOS.alice}$`)),
      page.getByRole("link", { name: LOGIN_REPOS.alice }).press("Enter"),
    ]);
    await Promise.all([
      page.waitForURL(/\/-\/t\/latest$/),
      page.locator("#tag-table").getByRole("link", { name: "latest", exact: true }).press("Enter"),
    ]);
    await page.getByRole("button", { name: "Copy the skopeo command (by tag latest)" }).press("Enter");
    await page.waitForFunction(() => document.getElementById("status")?.textContent?.startsWith("Copied"));
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(
      `skopeo copy --src-tls-verify=false docker://${host}/${LOGIN_REPOS.alice}:latest oci:tool:latest`,
    );
    const args = copied.split(" ").slice(1);
    // Without credentials the registry refuses it; with alice's login (an authfile) it pulls.
    const authfile = join(work, "auth.json");
    const env = { ...process.env, REGISTRY_AUTH_FILE: authfile };
    await expect(
      run("skopeo", [...args.slice(0, 1), "--src-no-creds", ...args.slice(1)], {
        cwd: work,
        timeout: 60_000,
      }),
    ).rejects.toThrow(/unauthorized|authentication required|denied/i);
    // The page's own login command, with the name and the password given on stdin.
    const loginCommand = await page.locator("#login-note code").first().textContent();
    expect(loginCommand).toBe(`skopeo login --tls-verify=false ${host}`);
    const [, ...loginArgs] = (loginCommand ?? "").split(" ");
    const login = run("skopeo", [...loginArgs, "--authfile", authfile, "-u", "alice", "--password-stdin"], {
      timeout: 60_000,
    });
    login.child.stdin?.end(PASSWORDS.alice);
    await login;
    await run("skopeo", args, { cwd: work, timeout: 60_000, env });
    const built = app.images.get(LOGIN_REPOS.alice);
    const latest = built?.publication.manifests.find((m) => m.digest === built.publication.tags.latest);
    expect(await pulledLayers(join(work, "tool"))).toEqual(
      latest?.refs.slice(1).map((d) => built?.blobBytes.get(d)),
    );

    // That pull is counted, and the tag page shows it once the statistics are flushed.
    const deadline = Date.now() + 30_000;
    let title: string | null = null;
    while (Date.now() < deadline) {
      await page.reload();
      // count() does not wait: the chart is there on this load or not.
      if ((await page.locator("svg.chart title").count()) > 0) {
        title = await page.locator("svg.chart title").first().textContent();
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(title).toMatch(/: 1 in total, at most 1 a day$/);

    // Log out by keyboard: the private repository is gone again.
    await Promise.all([
      page.waitForURL(/\/ui\/$/),
      page.getByRole("button", { name: "Log out" }).press("Enter"),
    ]);
    expect(await rows(page)).toEqual([LOGIN_REPOS.public]);
    expect(await context.cookies()).toEqual([]);
    const gone = await page.goto(`${server.url}/ui/r/${LOGIN_REPOS.alice}`);
    expect(gone?.status()).toBe(404);
    expect(cspErrors).toEqual([]);
    // Neither the password nor the session value reached the server's log.
    expect(server.output()).toContain("/ui/login");
    expect(server.output()).not.toContain(PASSWORDS.alice);
    expect(server.output()).not.toContain(cookie?.value ?? "(no cookie)");
    await context.close();
  });

  it("has an accessible, valid login page in light, dark and on a phone", async () => {
    const source = await rawRequest(server.url, "GET", "/ui/login");
    const report = await validator.validateString(source.body.toString());
    expect(report.results.flatMap((r) => r.messages.map((m) => `${m.ruleId}: ${m.message}`))).toEqual([]);
    await mkdir(SHOTS, { recursive: true });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    watchCsp(page, cspErrors);
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.goto(`${server.url}/ui/login`);
      await checkAxe(page, axe, `login page (${scheme})`);
      await page.screenshot({ path: join(SHOTS, `login-${scheme}.png`) });
    }
    await context.close();
    const phone = await browser.newContext({
      viewport: { width: 375, height: 740 },
      isMobile: true,
      hasTouch: true,
    });
    const small = await phone.newPage();
    watchCsp(small, cspErrors);
    await small.goto(`${server.url}/ui/login`);
    expect(await small.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await checkAxe(small, axe, "login page (phone)");
    await phone.close();
    expect(cspErrors).toEqual([]);
  });
});
