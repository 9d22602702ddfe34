"""`python -m benchmarks --quick --sections budget` runs end to end (figures not asserted:
at the smoke scale they mean little; only the shape of the results and the same final states)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_budget_section_compares_fifo_and_budget_aware(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--server", "python", "--out", str(tmp_path),
         "--sections", "budget"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "latest.json").read_text())
    budget = results["budget"]
    assert budget["same_final_states"] is True
    for run in ("fifo", "budget_aware"):
        assert {"write_requests", "applied_updates", "rate_limited", "seconds_to_fresh", "outcomes"} <= set(budget[run])
    assert budget["fifo"]["outcomes"] == {"sent": budget["config"]["events"]}  # strict: every event a write
    assert "## What the budget buys" in (tmp_path / "RESULTS.md").read_text()
