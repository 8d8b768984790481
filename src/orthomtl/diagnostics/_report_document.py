"""The run report as a document: sections of blocks, which the HTML and markdown renderers both
walk, so the two files hold the same content."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paragraph:
    """Plain text."""

    text: str


@dataclass(frozen=True)
class Note:
    """A missing piece: what is missing and how to get it."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of text cells; every row has as many cells as ``header``."""

    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Image:
    """A PNG image.

    Attributes:
        name: a file stem unique in the report (``report_files/<name>.png`` beside report.md).
        png: the PNG file's bytes.
        caption: what it shows.
    """

    name: str
    png: bytes
    caption: str


Block = Paragraph | Note | Table | Image


@dataclass
class Section:
    """A titled list of blocks."""

    title: str
    blocks: list[Block] = field(default_factory=list)


def markdown_table(text: str) -> Table:
    """A markdown table (``| a | b |`` lines, the second the separator) as a ``Table``."""
    lines = [line.strip().strip("|") for line in text.strip().splitlines()]
    cells = [[cell.strip() for cell in line.split("|")] for line in lines]
    return Table(header=cells[0], rows=cells[2:])
