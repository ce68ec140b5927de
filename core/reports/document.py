"""Markdown and self-contained HTML, the two formats every report is written in."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass

#: The one stylesheet, inlined into every page: no external asset, the page opens offline.
CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 78rem;
       padding: 0 1rem; color: #1d2329; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #d8dee4; }
h3 { font-size: 1.05rem; margin-top: 1.6rem; }
table { border-collapse: collapse; margin: .6rem 0 1.2rem; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .55rem; vertical-align: top; text-align: left; }
th { background: #f3f5f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.pass { background: #e9f7ec; } td.fail { background: #fde8e8; font-weight: 600; }
td.na { background: #f6f8fa; color: #6e7781; } td.obs { background: #fffdf3; }
code { font: .85em ui-monospace, SFMono-Regular, Menlo, monospace; background: #f3f5f7; padding: 0 .2em; }
.note { color: #57606a; font-size: .88rem; } img.chart { max-width: 100%; border: 1px solid #d0d7de; }
pre { background: #f6f8fa; padding: .7rem; overflow-x: auto; font-size: .85rem; }
"""


def md_cell(text: object) -> str:
    """Text safe inside a Markdown table cell (pipes escaped, newlines flattened)."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]], *, align_right: Sequence[int] = ()) -> str:
    """A GitHub-flavoured Markdown table."""
    rules = ["---:" if index in align_right else "---" for index in range(len(header))]
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "| " + " | ".join(rules) + " |"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def esc(text: object) -> str:
    """HTML-escaped text."""
    return html.escape(str(text), quote=True)


def code_spans(text: str) -> str:
    """Escape ``text`` for HTML and turn Markdown backtick spans into ``<code>``."""
    parts = str(text).split("`")
    return "".join(f"<code>{esc(part)}</code>" if index % 2 else esc(part) for index, part in enumerate(parts))


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    classes: Sequence[Sequence[str]] | None = None,
    numeric: Sequence[int] = (),
) -> str:
    """An HTML table; ``classes[r][c]`` styles a cell, ``numeric`` columns are right-aligned."""
    out = ["<table>", "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>"]
    for r, row in enumerate(rows):
        cells = []
        for c, value in enumerate(row):
            names = [classes[r][c]] if classes and classes[r][c] else []
            if c in numeric:
                names.append("num")
            attr = f' class="{" ".join(names)}"' if names else ""
            cells.append(f"<td{attr}>{code_spans(str(value))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def html_page(title: str, body: str) -> str:
    """A complete, self-contained HTML document."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def paragraph(text: str) -> str:
    """One HTML paragraph from Markdown-ish text (backticks become code)."""
    return f"<p>{code_spans(text)}</p>"


def bullet_list(items: Sequence[str]) -> str:
    """An HTML list (backticks become code)."""
    return "<ul>" + "".join(f"<li>{code_spans(item)}</li>" for item in items) + "</ul>"


# -- documents: one list of blocks, rendered to both formats --------------------------------------


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    text: str
    note: bool = False


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[object]]
    numeric: Sequence[int] = ()
    classes: Sequence[Sequence[str]] | None = None


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Image:
    """A PNG: a file next to the Markdown, inlined as base64 in the HTML; ``png`` None says why not."""

    filename: str
    alt: str
    png: bytes | None
    missing: str = ""


Block = Heading | Text | Bullets | Table | Code | Image


def document_markdown(title: str, blocks: Sequence[Block]) -> str:
    """A Markdown document from blocks (images link to their files)."""
    out = [f"# {title}", ""]
    for block in blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + f" {block.text}", ""]
        elif isinstance(block, Text):
            out += [f"_{block.text}_" if block.note else block.text, ""]
        elif isinstance(block, Bullets):
            out += [*(f"- {item}" for item in block.items), ""]
        elif isinstance(block, Table):
            out += [md_table(block.header, block.rows, align_right=block.numeric), ""]
        elif isinstance(block, Code):
            out += ["```", block.text.rstrip("\n"), "```", ""]
        elif block.png is not None:
            out += [f"![{block.alt}]({block.filename})", ""]
        else:
            out += [f"_(chart not drawn: {block.missing})_", ""]
    return "\n".join(out)


def document_html(title: str, blocks: Sequence[Block]) -> str:
    """A self-contained HTML page from blocks (images inlined as base64 PNG)."""
    out = [f"<h1>{esc(title)}</h1>"]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{code_spans(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            out.append(f'<p class="note">{code_spans(block.text)}</p>' if block.note else paragraph(block.text))
        elif isinstance(block, Bullets):
            out.append(bullet_list(block.items))
        elif isinstance(block, Table):
            out.append(html_table(block.header, block.rows, classes=block.classes, numeric=block.numeric))
        elif isinstance(block, Code):
            out.append(f"<pre>{esc(block.text)}</pre>")
        elif block.png is not None:
            data = base64.b64encode(block.png).decode("ascii")
            out.append(f'<p><img class="chart" alt="{esc(block.alt)}" src="data:image/png;base64,{data}"></p>')
        else:
            out.append(f'<p class="note">Chart not drawn: {esc(block.missing)}</p>')
    return html_page(title, "\n".join(out))
