"""Self-contained HTML pages for the Snakemake report: a video gallery and the evaluation table.

Why HTML: the report shows HTML results inline (images too, but an mp4 only as a download), so the
videos are embedded as data URIs in a page that plays them side by side; the table gives the exact
numbers behind the bar charts.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from locomimic.errors import LocomimicError
from locomimic.evaluate.metrics import METRICS
from locomimic.io import atomic_path

STYLE = """body{font-family:sans-serif;margin:12px;color:#222}
.grid{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0}figcaption{font-size:13px;text-align:center;margin-top:4px}
video{display:block;border:1px solid #ccc;max-width:100%}
table{border-collapse:collapse;font-size:12px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f0f0f0}td.name{text-align:left}p.note{font-size:12px;color:#555;max-width:60em}"""


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h3>{html.escape(title)}</h3>\n{body}\n</body></html>\n")


def _write(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def video_gallery(videos: list[tuple[str, Path]], title: str, out: str | Path, note: str = "") -> None:
    """Videos side by side, each embedded (base64 mp4) under its label, looping and muted."""
    figures = []
    for label, path in videos:
        try:
            data = base64.b64encode(Path(path).read_bytes()).decode()
        except OSError as exc:
            raise LocomimicError(path, f"cannot read video: {exc}") from None
        figures.append(f"<figure><video controls loop muted autoplay playsinline src='data:video/mp4;base64,{data}'>"
                       f"</video><figcaption>{html.escape(label)}</figcaption></figure>")
    note_html = f"<p class='note'>{html.escape(note)}</p>" if note else ""
    _write(out, _page(title, note_html + "<div class='grid'>" + "".join(figures) + "</div>"))


def _cell(stat: dict | None) -> str:
    if not stat or stat.get("mean") is None:
        return "<td>n/a</td>"
    text = f"{stat['mean']:.4g}"
    if stat.get("ci95") is not None:
        text += f" &plusmn; {stat['ci95']:.2g}"
    return f"<td>{text}</td>"


def metrics_table(document: dict, out: str | Path) -> None:
    """One table per robot and motion: policies as rows, metrics (mean +- 95% CI half-width) as columns."""
    sections = []
    for robot, motions in document["results"].items():
        for motion, policies in motions.items():
            names = [m for m in METRICS if any(m in p["metrics"] for p in policies.values())]
            head = "".join(f"<th>{html.escape(n)}<br><small>{html.escape(METRICS[n][0])}</small></th>" for n in names)
            rows = []
            for policy, entry in policies.items():
                cells = "".join(_cell(entry["metrics"].get(n)) for n in names)
                rows.append(f"<tr><td class='name'>{html.escape(entry.get('policy', policy))}</td>"
                            f"<td class='name'>{html.escape(entry.get('simulator', 'mjx'))}</td>"
                            f"<td class='name'>{entry['task']}</td>"
                            f"<td>{len(entry['seeds'])}</td><td>{entry['episodes']}</td>"
                            f"<td class='name'>{entry['ci_over']}</td>{cells}</tr>")
            sections.append(f"<h4>{html.escape(robot)} / {html.escape(motion)}</h4><table><tr><th>policy</th>"
                            f"<th>simulator</th><th>task</th><th>seeds</th><th>episodes per seed</th><th>CI over</th>"
                            f"{head}</tr>"
                            + "".join(rows) + "</table>")
    definitions = "".join(f"<li><b>{html.escape(n)}</b> ({html.escape(u) or 'ratio'}): {html.escape(d)}</li>"
                          for n, (u, d) in METRICS.items())
    _write(out, _page("Evaluation: mean and 95% confidence interval",
                      "".join(sections) + f"<p class='note'>Metrics:</p><ul class='note'>{definitions}</ul>"))
