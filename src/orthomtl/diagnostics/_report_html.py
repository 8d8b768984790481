"""The report as one self-contained HTML file: inline CSS, PNGs inlined as base64 ``data:`` URIs,
links only to anchors in the page, no script; it opens offline, moved anywhere."""

import base64
from collections.abc import Sequence
from html import escape

from orthomtl.diagnostics._report_document import Image, Note, Paragraph, Section, Table

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
p.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: 0.3em 0.8em; }
nav ul { columns: 2; }
"""


def render_html(title: str, sections: Sequence[Section]) -> str:
    """The page: a title, a table of contents linking to each section, then the sections."""
    anchors = [f"section-{n}" for n in range(len(sections))]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        "<nav><ul>",
        *(
            f'<li><a href="#{a}">{escape(s.title)}</a></li>'
            for a, s in zip(anchors, sections, strict=True)
        ),
        "</ul></nav>",
    ]
    for anchor, section in zip(anchors, sections, strict=True):
        parts.append(f'<section id="{anchor}">')
        parts.append(f"<h2>{escape(section.title)}</h2>")
        parts += [_block(block) for block in section.blocks]
        parts.append("</section>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _block(block: Paragraph | Note | Table | Image) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, Note):
        return f'<p class="note">Missing: {escape(block.text)}</p>'
    if isinstance(block, Table):
        head = "".join(f"<th>{escape(cell)}</th>" for cell in block.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
            for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    data = base64.b64encode(block.png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(block.caption)}">'
        f"<figcaption>{escape(block.caption)}</figcaption></figure>"
    )
