"""The pages for people's style sheet, inline in every page: nothing is loaded from elsewhere."""

from __future__ import annotations

from typing import Final

STYLE: Final = """
:root { color-scheme: light dark; --fg: #1f2328; --muted: #59636e; --bg: #fff; --soft: #f6f8fa;
  --line: #d1d9e0; --accent: #0b5fbd; --warn: #9a3412; --warn-bg: #fff1e6; --ok: #1a7f37; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117;
  --soft: #161b22; --line: #30363d; --accent: #58a6ff; --warn: #f0883e; --warn-bg: #2d1b0e;
  --ok: #3fb950; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: var(--bg); }
header { background: var(--soft); border-bottom: 1px solid var(--line); }
header div, main, footer { max-width: 64rem; margin: 0 auto; padding: 0.75rem 1.25rem; }
header div { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; }
.brand { font-weight: 700; font-size: 1.15rem; color: var(--fg); text-decoration: none; }
form { display: flex; gap: 0.4rem; flex: 1; min-width: 16rem; }
input[type=search] { flex: 1; font: inherit; padding: 0.35rem 0.6rem; color: var(--fg);
  background: var(--bg); border: 1px solid var(--line); border-radius: 6px; }
button { font: inherit; padding: 0.35rem 0.9rem; border: 1px solid var(--line);
  border-radius: 6px; background: var(--bg); color: var(--fg); cursor: pointer; }
a { color: var(--accent); }
h1 { font-size: 1.6rem; margin: 0.5rem 0; } h2 { font-size: 1.2rem; margin: 1.6rem 0 0.5rem; }
h3 { font-size: 0.95rem; margin: 0.8rem 0 0.3rem; color: var(--muted); }
.muted, footer { color: var(--muted); } footer { font-size: 0.85rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr));
  gap: 0.75rem; margin: 1rem 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 0.6rem 0.9rem; }
.card b { display: block; font-size: 1.35rem; } .card span { color: var(--muted); }
.files { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr));
  gap: 0 1.25rem; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 0.5rem 0.75rem; overflow-x: auto; margin: 0; }
code, pre, .hash { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: 0.85rem; }
.projects { columns: 14rem; column-gap: 1.5rem; padding: 0; list-style: none; }
.projects li { break-inside: avoid; padding: 0.1rem 0; }
.pager { display: flex; gap: 1rem; align-items: center; }
table { border-collapse: collapse; width: 100%; margin: 0.25rem 0 0.5rem; }
th, td { text-align: left; padding: 0.35rem 0.5rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 0.85rem; }
td.num, th.num { text-align: right; white-space: nowrap; }
.hash { color: var(--muted); word-break: break-all; font-size: 0.75rem; }
.badge { display: inline-block; font-size: 0.75rem; font-weight: 600; padding: 0 0.45rem;
  border-radius: 1rem; background: var(--warn-bg); color: var(--warn); vertical-align: middle; }
.ok { color: var(--ok); } .warn { color: var(--warn); }
tr.yanked a.file { text-decoration: line-through; }
table.release { table-layout: fixed; }
table.release th:nth-child(2) { width: 7rem; } table.release th:nth-child(3) { width: 9rem; }
table.release th:nth-child(4) { width: 12.5rem; } td { overflow-wrap: anywhere; }
.clause { white-space: nowrap; }
.facts th { width: 9rem; }
.failures { padding-left: 1.2rem; overflow-wrap: anywhere; } .failures li { margin: 0.3rem 0; }
.notice { background: var(--warn-bg); border-left: 4px solid var(--warn); padding: 0.5rem 0.8rem;
  border-radius: 4px; }
.versions { display: flex; flex-wrap: wrap; gap: 0.3rem 0.8rem; padding: 0; list-style: none; }
"""
