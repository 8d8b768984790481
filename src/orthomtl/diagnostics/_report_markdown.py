"""The report as markdown: the same sections as the HTML page, its images as PNG files in a
folder beside it, referenced by relative paths."""

from collections.abc import Sequence

from orthomtl.diagnostics._report_document import Image, Note, Paragraph, Section, Table


def render_markdown(
    title: str, sections: Sequence[Section], files_dir: str
) -> tuple[str, dict[str, bytes]]:
    """The markdown text, and the images to write: ``{file name: PNG bytes}``, each referenced
    as ``files_dir/<file name>``."""
    lines = [f"# {title}", ""]
    files: dict[str, bytes] = {}
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Image):
                name = f"{block.name}.png"
                files[name] = block.png
                lines += [
                    f"![{_text(block.caption)}]({files_dir}/{name})",
                    "",
                    f"*{_text(block.caption)}*",
                ]
            elif isinstance(block, Table):
                lines += [
                    _row(block.header),
                    "|" + "---|" * len(block.header),
                    *(_row(row) for row in block.rows),
                ]
            elif isinstance(block, Note):
                lines.append(f"> **Missing:** {_text(block.text)}")
            elif isinstance(block, Paragraph):
                lines.append(_text(block.text))
            lines.append("")
    return "\n".join(lines), files


def _text(text: str) -> str:
    """``text`` with the characters markdown would read as markup escaped."""
    for char in "\\`*[]<>|":
        text = text.replace(char, "\\" + char)
    return text


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_text(cell) for cell in cells) + " |"
