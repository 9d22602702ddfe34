"""`python -m benchmarks --quick` runs end to end and writes every section (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_writes_every_section(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--server", "python", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "latest.json").read_text())
    assert {"config", "machine", "throughput", "cpu", "memory", "targets"} <= set(results)
    assert results["machine"]["server"].startswith("python")
    for concurrency in ("1", "8"):
        entry = results["throughput"][concurrency]
        for name in ("aiohttp", "update_status", "stream", "httpx"):
            assert {"updates_per_s", "p50_ms", "p99_ms", "cpu_us_per_update", "rounds"} <= set(entry[name])
        ratios = {"update_status/aiohttp", "stream/aiohttp", "httpx/aiohttp"}
        assert set(entry["ratios"]) == ratios and set(entry["cpu_ratios"]) == ratios
    assert {"request_build", "tracker_cycle", "parse_event", "sum"} <= set(results["cpu"]["us"])
    runs = results["memory"]["runs"]
    assert [r["events"] for r in runs] == [2000, 10000]
    assert all(r["counts"] == {"sent": r["events"]} for r in runs)
    assert "growth_mb" in results["memory"]
    assert {t["result"] for t in results["targets"]} <= {"pass", "MISS", "n/a"}
    table = (tmp_path / "RESULTS.md").read_text()
    assert "| Target |" in table and "updates/s" in table
