"""`python -m benchmarks --quick` runs end to end and writes every section (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def quick(out: Path, sections: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--server", "python", "--out", str(out),
         "--sections", sections],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results: dict[str, Any] = json.loads((out / "latest.json").read_text())
    assert {"config", "machine", "targets"} <= set(results)
    assert {t["result"] for t in results["targets"]} <= {"pass", "MISS", "n/a"}
    table = (out / "RESULTS.md").read_text()
    assert "| Target |" in table
    return results


def test_quick_benchmark_writes_throughput_and_cpu(tmp_path: Path) -> None:
    results = quick(tmp_path, "throughput,cpu")
    assert results["machine"]["server"].startswith("python")
    for concurrency in ("1", "8"):
        entry = results["throughput"][concurrency]
        for name in ("aiohttp", "update_status", "stream", "httpx"):
            assert {"updates_per_s", "p50_ms", "p99_ms", "cpu_us_per_update", "rounds"} <= set(entry[name])
        ratios = {"update_status/aiohttp", "stream/aiohttp", "httpx/aiohttp", "update_status_eta/aiohttp_eta",
                  "sdk_on_aiohttp_eta/aiohttp_eta"}
        assert set(entry["ratios"]) == ratios and set(entry["cpu_ratios"]) == ratios
        assert set(entry["ratio_ranges"]) == ratios
        assert all(low <= entry["ratios"][label] <= high for label, (low, high) in entry["ratio_ranges"].items())
    us = results["cpu"]["us"]
    pieces = ("request_build", "tracker_cycle", "parse_event")
    assert set(us) == {*pieces, "sum", "update_status_path", "sender_overhead", "stream_path"}
    assert us["sum"] == pytest.approx(sum(us[piece] for piece in pieces))
    assert "updates/s" in (tmp_path / "RESULTS.md").read_text()
    names = {t["name"] for t in results["targets"]}
    assert "update_status_eta/aiohttp_eta at concurrency 1 (issue 15)" in names


def test_quick_benchmark_writes_memory(tmp_path: Path) -> None:
    memory = quick(tmp_path, "memory")["memory"]
    assert "growth_mb" in memory
    runs = memory["runs"]
    assert [r["events"] for r in runs] == [2000, 10000]
    assert all(r["counts"] == {"sent": r["events"]} for r in runs)


def test_instruction_children_run_and_the_table_reads() -> None:
    """The children valgrind would run work on their own; the table shows each contender's
    figure and its difference from its aiohttp baseline (valgrind itself is not needed here)."""
    from benchmarks import instructions
    from benchmarks.server import local_server

    with local_server("python") as server:
        for name in ("harness", "aiohttp_eta", "update_status_eta", "sdk_on_aiohttp_eta"):
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.instructions", "--child", name, server.url, "2", "20"],
                cwd=ROOT, capture_output=True, text=True, timeout=120,
            )
            assert done.returncode == 0, done.stderr
    cells = {"64": {name: {"median": value, "min": value, "max": value, "rounds": [value]}
                    for name, value in (("aiohttp_eta", 500_000.0), ("update_status_eta", 520_000.0))}}
    table = instructions.markdown({"small": 300, "large": 1500, "rounds": 1, "cells": cells})
    assert "| 64 | update_status_eta | 520,000 [520,000 to 520,000] | +20,000 (1.040x) |" in table
    assert "valgrind" in instructions.MISSING
