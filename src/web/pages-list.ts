import type { RepositorySummary } from "./catalog.js";
import { h, type Html } from "./html.js";
import { formatTime, loginUrl, page, urls, type Account } from "./layout.js";

export const PAGE_SIZE = 1000;
export const MAX_QUERY = 200;

/** Every word must appear in the name (case-insensitive): `acme app` finds `acme/web-app`. */
export function matches(words: string[], name: string): boolean {
  const lower = name.toLowerCase();
  return words.every((w) => lower.includes(w));
}

export const wordsOf = (q: string) =>
  q
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w !== "");

export function listPage(
  all: readonly RepositorySummary[],
  q: string,
  pageNo: number,
  account?: Account,
): Html {
  const words = wordsOf(q);
  const found = words.length === 0 ? all : all.filter((r) => matches(words, r.name));
  const pages = Math.max(1, Math.ceil(found.length / PAGE_SIZE));
  const current = Math.min(Math.max(1, pageNo), pages);
  const from = (current - 1) * PAGE_SIZE;
  const shown = found.slice(from, from + PAGE_SIZE);
  const pageUrl = (n: number) => {
    const params = new URLSearchParams();
    if (q !== "") params.set("q", q);
    if (n > 1) params.set("page", String(n));
    const text = params.toString();
    return text === "" ? "/ui/" : `/ui/?${text}`;
  };
  const noun = found.length === 1 ? "repository" : "repositories";
  const matching = q === "" ? "" : h` matching “${q}”`;
  const range = pages > 1 ? h`, showing ${from + 1}–${from + shown.length}` : "";
  const summary =
    found.length === 0
      ? q === ""
        ? "There are no repositories you can pull."
        : h`No repository matches “${q}”.`
      : h`${found.length} ${noun}${matching}${range}.`;
  const rows = shown.map(
    (r) =>
      h`<tr data-key="${r.name}"><td><a href="${urls.repo(r.name)}">${r.name}</a></td><td class="num">${r.tagCount}</td><td class="hide-narrow">${formatTime(r.updated)}</td></tr>
`,
  );
  const table =
    shown.length === 0
      ? q === ""
        ? ""
        : h`<p><a href="/ui/">Show all repositories</a></p>`
      : h`<section class="table-wrap" tabindex="0" aria-labelledby="repos-caption">
<table id="repos">
<caption id="repos-caption">Repositories</caption>
<thead><tr><th scope="col">Name</th><th scope="col" class="num">Tags</th><th scope="col" class="hide-narrow">Updated</th></tr></thead>
<tbody>
${rows}</tbody>
</table>
</section>`;
  const pager =
    pages > 1
      ? h`<nav class="pager" aria-label="Pages">${current > 1 ? h`<a href="${pageUrl(current - 1)}" rel="prev">Previous page</a>` : ""}<span>Page ${current} of ${pages}</span>${current < pages ? h`<a href="${pageUrl(current + 1)}" rel="next">Next page</a>` : ""}</nav>`
      : "";
  const loginHint =
    account?.mode === "local" && account.name === undefined
      ? h`<p class="muted">You see the repositories anyone may pull. <a href="${loginUrl(account.here)}">Log in</a> to see those your login may pull too.</p>`
      : "";
  const body = h`<h1>Repositories</h1>
${loginHint}
<form class="search" method="get" action="/ui/" role="search">
<label for="q">Search repositories</label>
<input id="q" name="q" type="search" value="${q}" maxlength="${MAX_QUERY}" autocomplete="off" spellcheck="false" data-filter="repos" aria-describedby="count">
<button type="submit">Search</button>
</form>
<p id="count">${summary}</p>
${table}
${pager}`;
  return page(q === "" ? "Repositories" : "Search results", [], body, account);
}
