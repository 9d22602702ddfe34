"""Terminal output for the CLI: rich progress and tables when ``gett-async[cli]`` is
installed, plain lines otherwise. Progress goes to stderr, results to stdout."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

try:  # optional extra: gett-async[cli]
    import rich.console
    import rich.progress
    import rich.table
except ImportError:  # pragma: no cover - exercised where rich is absent
    rich = None  # type: ignore[assignment]


class Progress:
    """A live counter of finished events, with the kinds seen so far."""

    def __init__(self, label: str, total: int | None, *, enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.counts: dict[str, int] = {}
        self._rich: Any = None
        self._task: Any = None
        self._last = 0.0

    def __enter__(self) -> Progress:
        if self.enabled and rich is not None:
            self._rich = rich.progress.Progress(
                rich.progress.TextColumn("{task.description}"),
                rich.progress.BarColumn(),
                rich.progress.MofNCompleteColumn(),
                rich.progress.TextColumn("{task.fields[kinds]}"),
                rich.progress.TimeElapsedColumn(),
                console=rich.console.Console(stderr=True),
                transient=True,
            )
            self._rich.__enter__()
            self._task = self._rich.add_task(self.label, total=self.total, kinds="")
        return self

    def advance(self, kind: str, detail: str = "") -> None:
        """Count one more ``kind``; ``detail`` (e.g. how long the queued writes take) is shown after the counts."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if not self.enabled:
            return
        kinds = " ".join(f"{k}={n}" for k, n in sorted(self.counts.items())) + (f" {detail}" if detail else "")
        if self._rich is not None:
            self._rich.update(self._task, advance=1, kinds=kinds)
            return
        now = time.monotonic()
        if now - self._last >= 0.2:
            self._last = now
            done = sum(self.counts.values())
            of = f"/{self.total}" if self.total else ""
            sys.stderr.write(f"\r{self.label}: {done}{of} {kinds}")
            sys.stderr.flush()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._rich is not None:
            self._rich.__exit__(exc_type, exc, tb)
        elif self.enabled:
            sys.stderr.write("\n")


def duration(seconds: float) -> str:
    """``seconds`` for a person: ``45 s``, ``12 min``, ``3.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a table to stdout (rich when available)."""
    if rich is not None:
        grid = rich.table.Table(title=title, title_justify="left")
        for i, header in enumerate(headers):
            grid.add_column(header, justify="right" if i else "left")
        for row in rows:
            grid.add_row(*(str(cell) for cell in row))
        rich.console.Console().print(grid)
        return
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    print(title)
    print("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
