/**
 * Logging in and out on the page (`/ui/login`, `/ui/logout`), when the registry has identities.
 *
 * The form posts name and password to the server, which checks them with the token service (the
 * same identities and failed-login limits as `docker login`) and answers with a session cookie:
 * a short-lived value signed with the registry's key, `HttpOnly`, `SameSite=Strict`, and on TLS
 * `Secure` with the `__Host-` prefix (so no sibling host can set or scope it). Logging in always
 * issues a new value, so there is no session id an attacker could plant beforehand. Login and
 * logout are POSTs accepted only from this origin (`Sec-Fetch-Site` / `Origin`), and after a
 * login the page goes back only to a path under `/ui/`. Passwords and session values never go
 * into a URL, a page or a log line.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Visitor, WebAuth } from "./catalog.js";
import { h, type Html } from "./html.js";
import { page, type Account } from "./layout.js";
import { send, sendPage } from "./respond.js";

export const MAX_FORM_BYTES = 8 * 1024;
const MAX_NEXT = 1024;

/** TLS on the socket, or a TLS-terminating proxy in front that says so. */
export function isSecure(req: IncomingMessage): boolean {
  return (
    ("encrypted" in req.socket && req.socket.encrypted === true) ||
    req.headers["x-forwarded-proto"] === "https"
  );
}

/**
 * `__Host-` cookies must be Secure, for `Path=/`, without `Domain`: browsers refuse them otherwise,
 * which is the protection. Over plain HTTP the cookie is scoped to the page's own path instead.
 */
export const cookieName = (secure: boolean) => (secure ? "__Host-raas-session" : "raas-session");
const cookiePath = (secure: boolean) => (secure ? "/" : "/ui/");

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined || header.length > 16 * 1024) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function cookie(secure: boolean, value: string, maxAge: number): string {
  return [
    `${cookieName(secure)}=${value}`,
    `Path=${cookiePath(secure)}`,
    `Max-Age=${maxAge}`,
    "HttpOnly",
    "SameSite=Strict",
    ...(secure ? ["Secure"] : []),
  ].join("; ");
}

/**
 * A login or logout form must come from one of this registry's own pages: a browser says where a
 * POST comes from in `Sec-Fetch-Site` and `Origin` (the pages' referrer policy keeps `Origin` for
 * same-origin requests). Every header present must agree, and at least one must be present.
 * The origin is this request's host; over TLS only with https, over plain HTTP with either
 * scheme, since a TLS-terminating proxy may not say that it is one.
 */
export function fromThisOrigin(req: IncomingMessage, secure: boolean): boolean {
  const site = req.headers["sec-fetch-site"];
  const origin = req.headers.origin;
  if (site === undefined && origin === undefined) return false;
  if (site !== undefined && site !== "same-origin") return false;
  if (origin !== undefined) {
    const host = req.headers.host;
    if (host === undefined) return false;
    const allowed = secure ? [`https://${host}`] : [`http://${host}`, `https://${host}`];
    if (!allowed.includes(origin)) return false;
  }
  return true;
}

/**
 * Where to go after logging in: a path under `/ui/` of this registry and nothing else (not `//host`,
 * not a scheme, no backslash, space or control character); otherwise the list.
 */
export function safeNext(value: string | null | undefined): string {
  if (value === null || value === undefined || value.length > MAX_NEXT) return "/ui/";
  return /^\/ui\/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/.test(value) ? value : "/ui/";
}

/** The form body, or a reason it is refused. */
async function readForm(
  req: IncomingMessage,
): Promise<URLSearchParams | { status: number; message: string }> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    return { status: 415, message: "The login form must be sent as a form." };
  }
  const tooLarge = { status: 413, message: "The form is too large." };
  if (Number(req.headers["content-length"] ?? "0") > MAX_FORM_BYTES) return tooLarge;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return tooLarge;
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

interface LoginView {
  next: string;
  username?: string;
  error?: string;
}

function loginForm(view: LoginView): Html {
  const described = view.error === undefined ? "" : h` aria-describedby="login-error" aria-invalid="true"`;
  return h`<h1>Log in</h1>
${view.error === undefined ? "" : h`<p class="error" id="login-error" role="alert">${view.error}</p>`}
<form class="login" method="post" action="/ui/login">
<input type="hidden" name="next" value="${view.next}">
<label for="username">Username</label>
<input id="username" name="username" type="text" value="${view.username ?? ""}" maxlength="128" autocomplete="username" autocapitalize="none" spellcheck="false" required${described}>
<label for="password">Password</label>
<input id="password" name="password" type="password" maxlength="1024" autocomplete="current-password" required${described}>
<button type="submit">Log in</button>
</form>
<p class="muted">The same name and password as for <code>docker login</code>, <code>podman login</code> or <code>skopeo login</code> to this registry. You stay logged in on this browser for a limited time.</p>`;
}

const crumbs = [{ label: "Repositories", url: "/ui/" }, { label: "Log in" }];

export interface LoginContext {
  auth: WebAuth;
  visitor: Visitor;
  account: Account;
  secure: boolean;
}

function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  message: string,
  account: Account,
) {
  sendPage(
    req,
    res,
    status,
    page(
      "Not accepted",
      crumbs,
      h`<h1>Not accepted</h1><p>${message}</p><p><a href="/ui/login">Log in</a></p>`,
      account,
    ),
  );
}

/** `/ui/login`: the form (GET), or a login (POST). */
export async function loginRoute(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: LoginContext,
  query: URLSearchParams,
): Promise<void> {
  const { auth, account } = ctx;
  if (auth.login === undefined) {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return send(req, res, 405, "Method Not Allowed", { Allow: "GET, HEAD", "Content-Type": "text/plain" });
    }
    return sendPage(
      req,
      res,
      200,
      page(
        "Log in",
        crumbs,
        h`<h1>Log in</h1>
<p>This registry trusts the tokens of an external issuer, which is where logins happen: log in with your registry client (<code>docker login</code>, <code>podman login</code>, <code>skopeo login</code>). This page cannot log you in, and as the registry keeps no access policy of its own in this mode, it lists no repository that needs a login.</p>`,
        account,
      ),
    );
  }
  if (req.method === "GET" || req.method === "HEAD") {
    const next = safeNext(query.get("next"));
    const body =
      ctx.visitor.name !== undefined
        ? h`<h1>Logged in</h1><p>You are logged in as <strong>${ctx.visitor.name}</strong>.</p><p><a href="${next}">Continue</a></p>`
        : loginForm({ next });
    return sendPage(req, res, 200, page("Log in", crumbs, body, account));
  }
  if (req.method !== "POST") {
    return send(req, res, 405, "Method Not Allowed", {
      Allow: "GET, HEAD, POST",
      "Content-Type": "text/plain",
    });
  }
  if (!fromThisOrigin(req, ctx.secure)) {
    return refuse(req, res, 403, "A login form can only be sent from this registry's own page.", account);
  }
  const form = await readForm(req);
  if (!(form instanceof URLSearchParams)) return refuse(req, res, form.status, form.message, account);
  const next = safeNext(form.get("next"));
  const username = form.get("username") ?? "";
  const password = form.get("password") ?? "";
  const shownName = username.slice(0, 128);
  if (username === "" || password === "") {
    const view = { next, username: shownName, error: "Enter a username and a password." };
    return sendPage(req, res, 400, page("Log in", crumbs, loginForm(view), account));
  }
  const result = await auth.login(username, password, req.socket.remoteAddress ?? "unknown");
  if (!result.ok) {
    const locked = result.retryAfter !== undefined;
    // One message for an unknown name and a wrong password: the page never tells which.
    const error = locked
      ? `Too many failed logins. Try again in ${result.retryAfter} seconds.`
      : "Wrong username or password.";
    return sendPage(
      req,
      res,
      locked ? 429 : 401,
      page("Log in", crumbs, loginForm({ next, username: shownName, error }), account),
      locked ? { "Retry-After": String(result.retryAfter) } : {},
    );
  }
  send(req, res, 303, "", {
    Location: next,
    "Set-Cookie": cookie(ctx.secure, result.session, result.maxAge),
    "Cache-Control": "no-store",
  });
}

/** `/ui/logout` (POST only): forget the session cookie. */
export function logoutRoute(req: IncomingMessage, res: ServerResponse, ctx: LoginContext): void {
  if (req.method !== "POST") {
    return send(req, res, 405, "Method Not Allowed", { Allow: "POST", "Content-Type": "text/plain" });
  }
  if (!fromThisOrigin(req, ctx.secure)) {
    return refuse(req, res, 403, "Logging out works only from this registry's own page.", ctx.account);
  }
  send(req, res, 303, "", {
    Location: "/ui/",
    "Set-Cookie": cookie(ctx.secure, "", 0),
    "Cache-Control": "no-store",
  });
}
