"""Markdown report, sized for a pull-request comment: verdict, broken checks first, then the table."""

from __future__ import annotations

from edgekit.report.table import COLUMNS, cells, context_lines, headline


def _esc(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(report: dict) -> str:
    mark = "✅" if report["passed"] else "❌"
    out = [f"## {mark} edgekit report: {headline(report)}", ""]
    out += [f"- {_esc(line)}" for line in context_lines(report)]
    if report["failures"]:
        out += ["", "### Broken checks", ""]
        out += [f"- **{_esc(f['artifact'])}** `{f['check']}`: {_esc(f['message'])}" for f in report["failures"]]
    out += ["", "### Artifacts", ""]
    out.append("| " + " | ".join(h for h, _ in COLUMNS) + " |")
    out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|")
    out += ["| " + " | ".join(_esc(c) for c in cells(r)) + " |" for r in report["rows"]]
    return "\n".join(out) + "\n"
