/**
 * HTML built only through the `h` tag: every interpolated value is escaped unless it is
 * already `Html` (the output of another `h` call), so a name from metadata can never become
 * markup. There is deliberately no "raw string" escape hatch besides `Html.trusted` for the few
 * constant fragments (the doctype) that the module writes itself.
 */
export class Html {
  private constructor(readonly text: string) {}

  /** Only for literal markup written in this module, never for data. */
  static trusted(text: string): Html {
    return new Html(text);
  }

  toString(): string {
    return this.text;
  }
}

export type HtmlValue = Html | string | number | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for element content and quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.text;
  if (value === null || value === undefined || value === false || value === true) return "";
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map(render).join("");
  return escapeHtml(String(value));
}

// Named `h`, not `html`: prettier would reformat templates tagged `html` as HTML and change their text.
export function h(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? "");
  return Html.trusted(out);
}
