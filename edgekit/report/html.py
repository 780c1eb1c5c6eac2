"""Self-contained HTML report: inline CSS, the plot embedded as a base64 PNG, no external requests."""

from __future__ import annotations

from html import escape

from edgekit.report.plot import accuracy_png, png_data_uri
from edgekit.report.table import COLUMNS, cells, context_lines, headline

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#1b1f23}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em}
.pass{color:#1a7f37} .fail{color:#cf222e}
table{border-collapse:collapse;font-size:13px} th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left} th{background:#f6f8fa}
tr.fail td{background:#ffebe9} ul.fail li{margin:.3em 0} code{background:#f6f8fa;padding:0 3px}
details{margin-top:1em} img{max-width:100%}
"""


def _checks_table(rows: list[dict]) -> str:
    out = ["<table><tr><th>artifact</th><th>check</th><th>status</th><th>detail</th></tr>"]
    for r in rows:
        for c in r["checks"]:
            cls = ' class="fail"' if c["status"] == "fail" else ""
            out.append(
                f"<tr{cls}><td>{escape(r['key'])}</td><td>{escape(c['name'])}</td>"
                f"<td>{escape(c['status'])}</td><td style='text-align:left'>{escape(c['message'])}</td></tr>"
            )
    out.append("</table>")
    return "\n".join(out)


def render(report: dict) -> str:
    ok = report["passed"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>edgekit report</title>',
        f"<style>{CSS}</style></head><body>",
        f'<h1 class="{"pass" if ok else "fail"}">{"✅" if ok else "❌"} edgekit report: {escape(headline(report))}</h1>',
        "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in context_lines(report)) + "</ul>",
    ]
    if report["failures"]:
        parts.append('<h2 class="fail">Broken checks</h2><ul class="fail">')
        parts += [
            f"<li><b>{escape(f['artifact'])}</b> <code>{escape(f['check'])}</code>: {escape(f['message'])}</li>"
            for f in report["failures"]
        ]
        parts.append("</ul>")
    png = accuracy_png(report["rows"])
    if png is not None:
        parts.append("<h2>Accuracy vs size / latency</h2>")
        parts.append(f'<img alt="accuracy vs size and latency" src="{png_data_uri(png)}">')
    parts.append("<h2>Artifacts</h2><table><tr>" + "".join(f"<th>{escape(h)}</th>" for h, _ in COLUMNS) + "</tr>")
    for r in report["rows"]:
        cls = ' class="fail"' if any(c["status"] == "fail" for c in r["checks"]) else ""
        parts.append(f"<tr{cls}>" + "".join(f"<td>{escape(c)}</td>" for c in cells(r)) + "</tr>")
    parts.append("</table>")
    parts.append("<details><summary>All checks</summary>" + _checks_table(report["rows"]) + "</details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
