import { ASSETS } from "./assets.js";
import { h, type Html, type HtmlValue } from "./html.js";

export interface Crumb {
  label: string;
  url?: string;
}

/** Repository names are `/`-separated components; each is encoded on its own. */
const encName = (name: string) => name.split("/").map(encodeURIComponent).join("/");

/**
 * Stable page URLs. `/-/` separates a repository name from what follows because `-` can never
 * start a name component, so `a/t/b` (a repository) and `a/-/t/b` (tag b of a) never collide.
 */
export const urls = {
  home: (q?: string) =>
    q === undefined || q === "" ? "/ui/" : `/ui/?${new URLSearchParams({ q }).toString()}`,
  repo: (name: string) => `/ui/r/${encName(name)}`,
  tag: (name: string, tag: string) => `/ui/r/${encName(name)}/-/t/${encodeURIComponent(tag)}`,
  digest: (name: string, digest: string) => `/ui/r/${encName(name)}/-/d/${digest}`,
};

const UNITS = ["B", "kB", "MB", "GB", "TB"];

/** Decimal units, as docker and podman print image sizes. */
export function formatSize(bytes: number | undefined): Html {
  if (bytes === undefined) return h`<span class="muted">unknown</span>`;
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  const text = unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit] ?? ""}`;
  return h`<data value="${bytes}">${text}</data>`;
}

export function formatTime(iso: string | undefined): Html {
  if (iso === undefined) return h`<span class="muted">unknown</span>`;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h`<span class="muted">unknown</span>`;
  const text = `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  return h`<time datetime="${date.toISOString()}">${text}</time>`;
}

export const shortDigest = (digest: string) => digest.slice(0, 7 + 12);

/** Long names are cut in the title (a tab shows little of it anyway); the heading keeps them whole. */
const shortTitle = (title: string) => (title.length > 40 ? `${title.slice(0, 39)}…` : title);

/** Who the page is for, when the registry has identities (`[auth]` on). */
export interface Account {
  mode: "local" | "external";
  /** The visitor's login name; undefined when anonymous. */
  name?: string;
  /** Logged in through the page's own session (so the page offers to log out). */
  session: boolean;
  /** The page to come back to after logging in (a path under /ui/). */
  here?: string;
}

export const loginUrl = (next?: string) =>
  next === undefined || next === "/ui/"
    ? "/ui/login"
    : `/ui/login?${new URLSearchParams({ next }).toString()}`;

function accountBar(account: Account | undefined): HtmlValue {
  if (account === undefined) return "";
  if (account.name === undefined) {
    return h`<div class="account"><a href="${loginUrl(account.here)}">Log in</a></div>`;
  }
  const logout = account.session
    ? h`<form method="post" action="/ui/logout"><button type="submit">Log out</button></form>`
    : "";
  return h`<div class="account"><span>Signed in as <strong id="visitor">${account.name}</strong></span>${logout}</div>`;
}

export function page(title: string, crumbs: Crumb[], body: HtmlValue, account?: Account): Html {
  const nav =
    crumbs.length === 0
      ? ""
      : h`<nav class="crumbs" aria-label="Breadcrumb"><ol>${crumbs.map((c, i) =>
          c.url === undefined || i === crumbs.length - 1
            ? h`<li><span aria-current="page">${c.label}</span></li>`
            : h`<li><a href="${c.url}">${c.label}</a></li>`,
        )}</ol></nav>`;
  return h`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${shortTitle(title)} · raas registry</title>
<link rel="stylesheet" href="${ASSETS["app.css"].url}">
<script src="${ASSETS["app.js"].url}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site"><div class="inner"><a class="home" href="/ui/">raas registry</a>${accountBar(account)}</div></header>
<main id="main">
${nav}
${body}
<p id="status" class="status" role="status" aria-live="polite"></p>
</main>
</body>
</html>
`;
}
