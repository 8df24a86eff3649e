import { createHash } from "node:crypto";

/**
 * The page's only stylesheet and script, served by the module itself (`/ui/-/…`) so the Content
 * Security Policy can forbid every inline script and style and anything from another origin.
 */
const CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--accent:#0550ae;--soft:#f6f8fa;--bar:#0969da;--ok:#116329;--warn:#7d4e00;--err:#a40e26;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#3d444d;--accent:#6cb6ff;--soft:#161b22;--bar:#4493f8;--ok:#56d364;--warn:#e3b341;--err:#ff7b72}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font-size:1rem}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,[tabindex]:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.skip{position:absolute;left:-999px;top:0;background:var(--bg);padding:.5rem}
.skip:focus{left:.5rem}
header.site{border-bottom:1px solid var(--line);background:var(--soft)}
header.site .inner,main{max-width:72rem;margin:0 auto;padding:.75rem 1rem}
header.site .inner{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between}
header.site a.home{font-weight:700;text-decoration:none;color:var(--fg)}
.account{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;overflow-wrap:anywhere}
.account form{margin:0}
form.login{display:grid;gap:.35rem;max-width:22rem}
form.login label{font-weight:600;margin-top:.5rem}
form.login input{padding:.5rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg);font-size:1rem}
form.login button{justify-self:start;margin-top:.75rem}
.error{color:var(--err);font-weight:600}
h1{font-size:1.5rem;margin:.5rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.15rem;margin:1.75rem 0 .5rem}
nav.crumbs ol{list-style:none;padding:0;margin:0 0 .25rem;display:flex;flex-wrap:wrap;gap:.25rem}
nav.crumbs li+li::before{content:"/";padding-right:.25rem;color:var(--muted)}
nav.crumbs a{overflow-wrap:anywhere}
.muted{color:var(--muted)}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875rem}
.digest{overflow-wrap:anywhere}
form.search{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin-bottom:1rem}
form.search label{display:block;font-weight:600;width:100%}
input[type=search]{flex:1 1 14rem;min-width:0;padding:.5rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg);font-size:1rem}
button{font:inherit;padding:.45rem .9rem;border:1px solid var(--line);border-radius:6px;background:var(--soft);color:var(--fg);cursor:pointer}
button:hover{border-color:var(--accent)}
.table-wrap{overflow-x:auto;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;width:100%}
caption{text-align:left;padding:.5rem .75rem;font-weight:600}
th,td{text-align:left;padding:.45rem .75rem;border-top:1px solid var(--line);vertical-align:top}
thead th{background:var(--soft);white-space:nowrap}
td.num,th.num{text-align:right;white-space:nowrap}
th a{color:inherit}
tr[hidden]{display:none}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.cmds{display:grid;gap:.75rem}
.cmd{display:flex;gap:.5rem;align-items:flex-start}
.cmd pre{flex:1;margin:0;padding:.5rem .75rem;background:var(--soft);border:1px solid var(--line);border-radius:6px;white-space:pre-wrap;overflow-wrap:anywhere}
.cmd-label{font-weight:600;margin:0 0 .25rem}
.badge{display:inline-block;padding:0 .4rem;border:1px solid var(--line);border-radius:1rem;font-size:.8rem;white-space:nowrap}
.badge.vendor{color:var(--warn);border-color:currentColor}
.badge.here{color:var(--ok);border-color:currentColor}
.pager{display:flex;gap:1rem;margin-top:.75rem}
svg.chart{max-width:100%;height:auto}
svg.chart .bar{fill:var(--bar)}
svg.chart .axis{stroke:var(--line)}
svg.chart text{fill:var(--muted);font-size:10px}
.status{min-height:1.5rem}
@media (max-width:40rem){h1{font-size:1.25rem}th,td{padding:.4rem .5rem}.cmd{flex-direction:column}.cmd button{align-self:flex-end}.hide-narrow{display:none}}
`;

/**
 * Progressive enhancement only: every page works without it. It filters rows as one types (the
 * form still filters on the server for lists longer than a page) and copies pull commands.
 */
const JS = `"use strict";
(function () {
  var status = document.getElementById("status");
  function say(text) { if (status) { status.textContent = ""; setTimeout(function () { status.textContent = text; }, 50); } }
  var filter = document.querySelector("input[data-filter]");
  if (filter) {
    var table = document.getElementById(filter.getAttribute("data-filter"));
    var rows = table ? Array.prototype.slice.call(table.tBodies[0].rows) : [];
    var keys = rows.map(function (r) { return (r.getAttribute("data-key") || "").toLowerCase(); });
    var timer;
    filter.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
        var shown = 0;
        rows.forEach(function (row, i) {
          var ok = words.every(function (w) { return keys[i].indexOf(w) >= 0; });
          row.hidden = !ok;
          if (ok) shown++;
        });
        say(shown + " of " + rows.length + " shown");
      }, 60);
    });
  }
  function copied(button, text) {
    say("Copied: " + text);
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  }
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("button[data-copy]") : null;
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent;
    function fallback() {
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      if (ok) copied(button, text); else say("Press Ctrl+C to copy the selected command");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button, text); }, fallback);
    } else {
      fallback();
    }
  });
})();
`;

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  /** URL with a content hash, so it can be cached for good. */
  url: string;
}

function asset(name: string, text: string, type: string): Asset {
  const body = Buffer.from(text);
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 16);
  return { body, type, etag: `"${hash}"`, url: `/ui/-/${name}?v=${hash}` };
}

export const ASSETS = {
  "app.css": asset("app.css", CSS, "text/css; charset=utf-8"),
  "app.js": asset("app.js", JS, "text/javascript; charset=utf-8"),
} as const;
