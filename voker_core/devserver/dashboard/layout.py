"""The dashboard's page shell: inline stylesheet, navigation bar and pagination links.

No external assets and no scripts, so the pages work offline and under the strict
Content-Security-Policy the devserver sends with them (:data:`SECURITY_HEADERS`).

Usage::

    body = "<h1>Sessions</h1>..."
    html_text = page("Sessions", body, links=Links(None), active="sessions")
    pager(links.sessions, page=2, pages=9, total=420, noun="sessions", first=51, last=100)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from voker_core.devserver.dashboard.markup import Links, esc, fmt_count

__all__ = ["SECURITY_HEADERS", "Paging", "page", "pager"]

#: Headers sent with every dashboard page. Event content is untrusted: even if some of it slipped
#: through escaping, the browser would run no script, load nothing and post nowhere else.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The key may sit in the page's query string; never hand it to another site.
    "Referrer-Policy": "no-referrer",
}

_STYLE = """
:root {
  --fg: #1f2328; --muted: #656d76; --line: #d8dee4; --soft: #f6f8fa; --bg: #ffffff;
  --accent: #4f46e5; --accent-soft: #eef2ff; --user: #eff6ff; --user-line: #bfdbfe;
  --tool: #fffbeb; --tool-line: #fcd34d; --result: #f0fdf4; --result-line: #86efac;
  --err: #b42318; --err-soft: #fef3f2; --err-line: #fda29b; --think: #faf5ff;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--soft); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
header.top { background: #111827; color: #e5e7eb; }
header.top nav { max-width: 1180px; margin: 0 auto; padding: 0 24px; display: flex;
  align-items: center; gap: 4px; height: 48px; }
header.top a { color: #d1d5db; padding: 6px 12px; border-radius: 6px; }
header.top a:hover { background: #1f2937; text-decoration: none; color: #fff; }
header.top a.on { background: #374151; color: #fff; }
header.top .brand { font-weight: 650; color: #fff; margin-right: 12px; padding-left: 0; }
header.top .brand span { color: #a5b4fc; }
header.top .spacer { flex: 1; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; font-weight: 650; overflow-wrap: anywhere; }
h1.id { font-size: 19px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.muted { color: var(--muted); }
.crumbs { color: var(--muted); margin-bottom: 6px; font-size: 13px; }
.panel { background: var(--bg); border: 1px solid var(--line); border-radius: 10px;
  overflow: hidden; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
  font-weight: 600; background: var(--soft); }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.when { white-space: nowrap; color: var(--muted); font-variant-numeric: tabular-nums; }
tr.has-err td { background: #fffafa; }
tr.has-err td:first-child { box-shadow: inset 3px 0 0 var(--err); }
tbody tr:hover td { background: #fafbfc; }
.id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px;
  overflow-wrap: anywhere; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px;
  background: var(--soft); border: 1px solid var(--line); color: var(--fg); white-space: nowrap;
  margin: 1px 2px 1px 0; }
.pill.err { background: var(--err-soft); border-color: var(--err-line); color: var(--err);
  font-weight: 600; }
.pill.ok { background: var(--result); border-color: var(--result-line); color: #067647; }
.pill.accent { background: var(--accent-soft); border-color: #c7d2fe; color: #3730a3; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: end; padding: 12px 14px;
  margin-bottom: 16px; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted);
  gap: 3px; }
form.filters label.check { flex-direction: row; align-items: center; gap: 6px; padding-bottom: 7px;
  font-size: 13px; color: var(--fg); }
select, input[type=text] { font: inherit; height: 32px; padding: 4px 8px; border: 1px solid var(--line);
  border-radius: 6px; min-width: 180px; background: #fff; }
button { font: inherit; height: 32px; padding: 4px 16px; border-radius: 6px; border: 1px solid var(--accent);
  background: var(--accent); color: #fff; cursor: pointer; }
.pager { display: flex; gap: 8px; align-items: center; justify-content: space-between;
  margin: 14px 2px; color: var(--muted); font-size: 13px; }
.pager .links a, .pager .links span { margin-left: 6px; padding: 3px 10px; border-radius: 6px;
  border: 1px solid var(--line); background: #fff; }
.pager .links span { color: #aab1ba; }
.pager .links span.at { color: var(--muted); border: 0; background: none; }
.empty { padding: 40px; text-align: center; color: var(--muted); }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 10px;
  margin: 14px 0 20px; }
.stat { background: var(--bg); border: 1px solid var(--line); border-radius: 10px;
  padding: 10px 14px; }
.stat .label { font-size: 11.5px; text-transform: uppercase; letter-spacing: .05em;
  color: var(--muted); }
.stat .value { font-size: 15px; font-weight: 600; overflow-wrap: anywhere; }
.stat .value.small { font-size: 13px; font-weight: 500; }
.stat.err { border-color: var(--err-line); background: var(--err-soft); color: var(--err); }
/* the conversation */
.event { background: var(--bg); border: 1px solid var(--line); border-radius: 12px;
  margin: 0 0 14px; padding: 12px 16px 10px; }
.event.nested { margin-left: 28px; }
.event.failed { border-color: var(--err-line); box-shadow: inset 3px 0 0 var(--err); }
.event.compact { padding: 8px 16px; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; font-size: 12.5px;
  color: var(--muted); }
.meta .n { font-weight: 600; color: var(--fg); font-variant-numeric: tabular-nums; }
.meta .kind { font-weight: 600; color: var(--fg); }
.meta .model { font-weight: 600; color: #3730a3; }
.meta .right { margin-left: auto; }
.msg { margin: 10px 0; display: flex; flex-direction: column; }
.msg .who { font-size: 11.5px; font-weight: 600; letter-spacing: .04em; text-transform: uppercase;
  color: var(--muted); margin: 0 4px 3px; }
.bubble { padding: 9px 13px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere;
  max-width: 82%; border: 1px solid var(--line); }
.msg.user { align-items: flex-end; }
.msg.user .bubble { background: var(--user); border-color: var(--user-line);
  border-bottom-right-radius: 4px; }
.msg.assistant .bubble { background: #fff; border-bottom-left-radius: 4px; }
.msg.reasoning .bubble { background: var(--think); color: #6b21a8; font-style: italic; }
.msg.system .bubble { background: var(--soft); color: var(--muted); max-width: 100%; }
.card { border: 1px solid var(--tool-line); background: var(--tool); border-radius: 8px;
  padding: 7px 11px; margin: 8px 0; max-width: 82%; }
.card.result { border-color: var(--result-line); background: var(--result); }
.card.result.bad { border-color: var(--err-line); background: var(--err-soft); }
.card .head { font-size: 12px; color: var(--muted); margin-bottom: 3px; }
.card .head b { color: var(--fg); font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.card pre { max-height: 18em; overflow: auto; }
.error { border: 1px solid var(--err-line); background: var(--err-soft); color: var(--err);
  border-radius: 8px; padding: 8px 12px; margin: 10px 0 4px; }
.error b { margin-right: 6px; }
.error pre { color: #7a271a; margin-top: 3px; }
details { margin-top: 8px; }
details > summary { cursor: pointer; color: var(--muted); font-size: 12.5px; user-select: none; }
details > summary:hover { color: var(--accent); }
details.raw pre { background: #0f172a; color: #e2e8f0; border-radius: 8px; padding: 12px;
  margin-top: 6px; max-height: 32em; overflow: auto; }
details.system { margin: 4px 0 6px; }
details.system pre { background: var(--soft); border: 1px solid var(--line); border-radius: 8px;
  padding: 8px 12px; margin-top: 4px; max-height: 16em; overflow: auto; font-family: inherit;
  font-size: 13px; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0 0;
  font-size: 13px; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; overflow-wrap: anywhere; }
.agent { margin-bottom: 18px; }
.agent .title { padding: 12px 16px; display: flex; gap: 12px; align-items: baseline;
  flex-wrap: wrap; border-bottom: 1px solid var(--line); }
.agent .title h2 { margin: 0; }
.agent table { table-layout: fixed; }
.history { font-size: 12px; color: var(--muted); margin-top: 2px; }
"""


def page(title: str, body: str, *, links: Links, active: str = "") -> str:
    """A complete HTML document: ``title`` (escaped here), nav bar, and ``body`` (already HTML)."""
    nav = [f'<a class="brand" href="{esc(links.sessions())}">Voker <span>devserver</span></a>']
    for name, href in (
        ("sessions", links.sessions()),
        ("agents", links.agents()),
        ("people", links.people()),
    ):
        state = ' class="on"' if name == active else ""
        nav.append(f'<a{state} href="{esc(href)}">{name.capitalize()}</a>')
    nav.append('<span class="spacer"></span>')
    nav.append(f'<a href="{esc(links.url("/openapi.json"))}">API</a>')
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} \u00b7 Voker devserver</title><style>{_STYLE}</style></head>\n"
        f'<body><header class="top"><nav>{"".join(nav)}</nav></header>\n'
        f"<main>\n{body}\n</main></body></html>\n"
    )


@dataclass(frozen=True)
class Paging:
    """Where a page sits in a list: 1-based ``number`` of ``pages``, ``size`` items per page."""

    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one)."""
        return max(1, -(-self.total // self.size)) if self.size > 0 else 1

    @property
    def offset(self) -> int:
        """The SQL OFFSET of this page."""
        return (self.number - 1) * self.size

    def clamp(self) -> Paging:
        """The same paging with ``number`` moved inside ``1..pages``."""
        return Paging(min(max(1, self.number), self.pages), self.size, self.total)


def pager(href: Callable[[int], str], paging: Paging, *, noun: str, shown: int) -> str:
    """``Showing 51-100 of 420 sessions`` and First/Previous/Next/Last links (``href(page)``)."""
    if paging.total == 0:
        return ""
    first = paging.offset + 1
    last = paging.offset + shown
    summary = (
        f"Showing {fmt_count(first)}\u2013{fmt_count(last)} of {fmt_count(paging.total)} {noun}"
        if shown
        else f"{fmt_count(paging.total)} {noun}"
    )
    if paging.pages <= 1:
        return f'<div class="pager"><span>{esc(summary)}</span></div>'

    def link(label: str, target: int, enabled: bool) -> str:
        if not enabled:
            return f"<span>{label}</span>"
        return f'<a href="{esc(href(target))}">{label}</a>'

    number, pages = paging.number, paging.pages
    links = "".join(
        (
            link("&laquo; First", 1, number > 1),
            link("&lsaquo; Previous", number - 1, number > 1),
            f'<span class="at">Page {number:,} of {pages:,}</span>',
            link("Next &rsaquo;", number + 1, number < pages),
            link("Last &raquo;", pages, number < pages),
        )
    )
    return f'<div class="pager"><span>{esc(summary)}</span><span class="links">{links}</span></div>'
