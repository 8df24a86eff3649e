import type { RepositorySummary } from "./catalog.js";
import { html, type Html } from "./html.js";
import { formatTime, page, urls } from "./layout.js";

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

export function listPage(all: readonly RepositorySummary[], q: string, pageNo: number): Html {
  const words = wordsOf(q);
  const found = words.length === 0 ? all : all.filter((r) => matches(words, r.name));
  const pages = Math.max(1, Math.ceil(found.length / PAGE_SIZE));
  const current = Math.min(Math.max(1, pageNo), pages);
  const shown = found.slice((current - 1) * PAGE_SIZE, current * PAGE_SIZE);
  const pageUrl = (n: number) => {
    const params = new URLSearchParams();
    if (q !== "") params.set("q", q);
    if (n > 1) params.set("page", String(n));
    const text = params.toString();
    return text === "" ? "/ui/" : `/ui/?${text}`;
  };
  const summary =
    found.length === 0
      ? q === ""
        ? "There are no repositories you can pull."
        : html`No repository matches “${q}”.`
      : html`${found.length}
        ${found.length === 1 ? "repository" : "repositories"}${q === "" ? "" : html` matching “${q}”`}${
          pages > 1
            ? html`, showing ${(current - 1) * PAGE_SIZE + 1}–${(current - 1) * PAGE_SIZE + shown.length}`
            : ""
        }.`;
  const body = html`<h1>Repositories</h1>
    <form class="search" method="get" action="/ui/" role="search">
      <label for="q">Search repositories</label>
      <input
        id="q"
        name="q"
        type="search"
        value="${q}"
        maxlength="${MAX_QUERY}"
        autocomplete="off"
        spellcheck="false"
        data-filter="repos"
        aria-describedby="count"
      />
      <button type="submit">Search</button>
    </form>
    <p id="count">${summary}</p>
    ${
      shown.length === 0
        ? q === ""
          ? ""
          : html`<p><a href="/ui/">Show all repositories</a></p>`
        : html`<div class="table-wrap" tabindex="0" role="region" aria-labelledby="repos-caption">
            <table id="repos">
              <caption id="repos-caption">
                Repositories
              </caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col" class="num">Tags</th>
                  <th scope="col" class="hide-narrow">Updated</th>
                </tr>
              </thead>
              <tbody>
                ${shown.map(
                  (r) =>
                    html`<tr data-key="${r.name}">
                      <td><a href="${urls.repo(r.name)}">${r.name}</a></td>
                      <td class="num">${r.tagCount}</td>
                      <td class="hide-narrow">${formatTime(r.updated)}</td>
                    </tr> `,
                )}
              </tbody>
            </table>
          </div>`
    }
    ${
      pages > 1
        ? html`<nav class="pager" aria-label="Pages">
            ${current > 1 ? html`<a href="${pageUrl(current - 1)}" rel="prev">Previous page</a>` : ""}<span
              >Page ${current} of ${pages}</span
            >${current < pages ? html`<a href="${pageUrl(current + 1)}" rel="next">Next page</a>` : ""}
          </nav>`
        : ""
    }`;
  return page(q === "" ? "Repositories" : `Repositories matching ${q}`, [], body);
}
