"""``diagnostics.json``: the diagnostics a run logs that do not fit a metrics.csv column.

One file per stage directory, next to ``metrics.csv``, holding one list of records per callback
(``neural_collapse``: spectra, coherence matrices, principal angles; ``gradient_conflict``: cosine
matrices). Rank 0 rewrites it atomically after each record. Every record carries the training
``step`` it was taken at; when a run resumes, the records after the checkpoint's step are dropped
(they are logged again), as the rows of ``metrics.csv`` are.
"""

import json
from pathlib import Path
from typing import Any

from orthomtl.engine import write_text_atomic

FILE_NAME = "diagnostics.json"


def read_diagnostics(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """The records of ``run_dir/diagnostics.json`` by key; empty when there is no file."""
    path = Path(run_dir) / FILE_NAME
    if not path.is_file():
        return {}
    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); delete it to start afresh."
        ) from None
    if not isinstance(content, dict):
        raise ValueError(f"{path} must hold a JSON object of record lists; delete it.")
    return content


class DiagnosticsLog:
    """The records of one key of ``diagnostics.json``, written by the writing rank only.

    Args:
        key: the list this log owns (e.g. ``neural_collapse``).
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.run_dir: Path | None = None
        self.records: list[dict[str, Any]] = []
        self.writer = False

    def start(self, run_dir: Path, step: int, writer: bool) -> None:
        """Begin a fit in ``run_dir`` at ``step``: keep the records logged up to ``step``."""
        self.run_dir, self.writer = Path(run_dir), writer
        if not writer:
            return
        kept = read_diagnostics(self.run_dir).get(self.key, [])
        self.records = [r for r in kept if r.get("step", 0) <= step]

    def append(self, record: dict[str, Any]) -> None:
        """Add a record and rewrite the file (other keys kept as they are)."""
        if not self.writer or self.run_dir is None:
            return
        self.records.append(record)
        content = read_diagnostics(self.run_dir) | {self.key: self.records}
        write_text_atomic(self.run_dir / FILE_NAME, json.dumps(content, indent=1))
