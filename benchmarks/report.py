"""Machine description, targets, and the two outputs: results JSON and the RESULTS.md table."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import gett_async

from . import instructions
from .clients import NAMES, Run

#: Contender -> its ratio's label; the baseline is the label's right-hand side.
RATIOS = {
    "update_status": "update_status/aiohttp", "stream": "stream/aiohttp", "httpx": "httpx/aiohttp",
    "update_status_eta": "update_status_eta/aiohttp_eta", "sdk_on_aiohttp_eta": "sdk_on_aiohttp_eta/aiohttp_eta",
}
BASELINES = ("aiohttp", "aiohttp_eta")
TARGET_CONCURRENCIES = (64, 256)
#: Issue 15 asks the stream for >= 0.95x a hand-written aiohttp worker pool; the others are earlier floors.
MIN_RATIO = {"update_status": 0.90, "stream": 0.95, "update_status_eta": 0.90}
#: Issue 15: update_status with an ETA at least this fast as hand-written aiohttp, per concurrency.
ETA_MIN_RATIO = {1: 1.00, 64: 1.05, 256: 1.05}
#: Issue 15: what the SDK may add to a raw aiohttp update with an ETA, in CPU µs, by instruction counts.
MAX_SDK_US_OVER_RAW = 6.0
#: Instructions per µs when the run has no throughput figures to calibrate with (issue 15's machine).
DEFAULT_INSTRUCTIONS_PER_US = 4300.0
MAX_CPU_US = 20.0
MAX_GROWTH_MB = 20.0
MIN_BUDGET_GAIN = 2.0  # budget-aware vs FIFO: times fewer writes, times sooner to fresh


def machine(server: str, pinning: str = "not pinned", loop: str = "asyncio") -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "aiohttp": version("aiohttp"),
        "httpx": version("httpx"),
        "gett_async": gett_async.__version__,
        "commit": _commit(),
        "event_loop": f"uvloop {version('uvloop')}" if loop == "uvloop" else "asyncio default (no uvloop)",
        "server": server,
        "pinning": pinning,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _commit() -> str:
    """The checkout's ``git describe --always --dirty``, so a result names the code it measured."""
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cell(run: Run) -> dict[str, float]:
    return {
        "updates_per_s": run.rate,
        "p50_ms": _quantile(run.latencies, 0.50) * 1e3,
        "p99_ms": _quantile(run.latencies, 0.99) * 1e3,
        "cpu_us_per_update": run.cpu_seconds / run.requests * 1e6,
    }


def summarise(rounds: dict[int, dict[str, list[dict[str, float]]]]) -> dict[str, Any]:
    """Per concurrency: each contender's rounds and medians, and the per-round ratios' medians."""
    out: dict[str, Any] = {}
    for concurrency, by_name in rounds.items():
        entry: dict[str, Any] = {}
        for name in NAMES:
            cells = by_name[name]
            entry[name] = {key: statistics.median(c[key] for c in cells) for key in cells[0]}
            entry[name]["rounds"] = cells
        entry["ratios"] = {
            label: _median_ratio(by_name[name], by_name[label.split("/")[1]]) for name, label in RATIOS.items()
        }
        entry["ratio_ranges"] = {
            label: _ratio_range(by_name[name], by_name[label.split("/")[1]]) for name, label in RATIOS.items()
        }
        entry["cpu_ratios"] = {
            label: _median_ratio(by_name[name], by_name[label.split("/")[1]], "cpu") for name, label in RATIOS.items()
        }
        out[str(concurrency)] = entry
    return out


def _median_ratio(cells: list[dict[str, float]], base: list[dict[str, float]], kind: str = "rate") -> float:
    """Median of per-round ratios: of updates/s, or (``cpu``) of the baseline's CPU per update to this one's."""
    if kind == "cpu":
        pairs = ((b["cpu_us_per_update"], c["cpu_us_per_update"]) for c, b in zip(cells, base, strict=True))
    else:
        pairs = ((c["updates_per_s"], b["updates_per_s"]) for c, b in zip(cells, base, strict=True))
    return statistics.median(x / y for x, y in pairs)


def _ratio_range(cells: list[dict[str, float]], base: list[dict[str, float]]) -> list[float]:
    """The lowest and highest per-round ratio of updates/s: the spread the median hides."""
    ratios = [c["updates_per_s"] / b["updates_per_s"] for c, b in zip(cells, base, strict=True)]
    return [min(ratios), max(ratios)]


def instructions_per_us(results: dict[str, Any]) -> tuple[float, str]:
    """Instructions per CPU µs on this machine: aiohttp_eta's instructions per update over its CPU µs
    per update at concurrency 64 when both were measured, else issue 15's figure."""
    counted = results.get("instructions", {}).get("cells", {}).get("64", {}).get("aiohttp_eta")
    timed = results.get("throughput", {}).get("64", {}).get("aiohttp_eta")
    if counted and timed:
        return counted["median"] / timed["cpu_us_per_update"], "measured (aiohttp_eta at concurrency 64)"
    return DEFAULT_INSTRUCTIONS_PER_US, "assumed (issue 15's machine)"


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    throughput = results.get("throughput", {})
    for name, minimum in MIN_RATIO.items():
        for concurrency in TARGET_CONCURRENCIES:
            entry = throughput.get(str(concurrency))
            value = entry["ratios"][RATIOS[name]] if entry else None
            rows.append(_row(f"{RATIOS[name]} at concurrency {concurrency}", f">= {minimum:.2f}x", value,
                             None if value is None else value >= minimum, "{:.3f}x"))
    for concurrency, minimum in ETA_MIN_RATIO.items():
        entry = throughput.get(str(concurrency))
        value = entry["ratios"][RATIOS["update_status_eta"]] if entry else None
        rows.append(_row(f"update_status_eta/aiohttp_eta at concurrency {concurrency} (issue 15)", f">= {minimum:.2f}x",
                         value, None if value is None else value >= minimum, "{:.3f}x"))
    counted = results.get("instructions", {}).get("cells", {}).get("64", {})
    over = None
    if "update_status_eta" in counted and "aiohttp_eta" in counted:
        extra = counted["update_status_eta"]["median"] - counted["aiohttp_eta"]["median"]
        over = extra / instructions_per_us(results)[0]
    rows.append(_row("SDK CPU over raw aiohttp, ETA path, concurrency 64 (instruction counts)",
                     f"<= {MAX_SDK_US_OVER_RAW:.0f} µs", over,
                     None if over is None else over <= MAX_SDK_US_OVER_RAW, "{:.1f} µs"))
    if "sdk_on_aiohttp_eta" in counted and "aiohttp_eta" in counted:  # for reference: no target of its own
        layers = counted["sdk_on_aiohttp_eta"]["median"] - counted["aiohttp_eta"]["median"]
        layers /= instructions_per_us(results)[0]
        rows.append(_row("for reference: the SDK's layers alone (SDK on transport=\"aiohttp\" over raw aiohttp)",
                         "none", layers, None, "{:.1f} µs"))
    cpu = results.get("cpu", {}).get("us", {}).get("sum")
    rows.append(_row("SDK CPU cost per update", f"<= {MAX_CPU_US:.0f} µs", cpu,
                     None if cpu is None else cpu <= MAX_CPU_US, "{:.1f} µs"))
    growth = results.get("memory", {}).get("growth_mb")
    sizes = "/".join(f"{r['events']:,}" for r in results.get("memory", {}).get("runs", []))
    rows.append(_row(f"RSS growth {sizes or '100k/1M'} events", f"<= {MAX_GROWTH_MB:.0f} MB", growth,
                     None if growth is None else growth <= MAX_GROWTH_MB, "{:.1f} MB"))
    budget = results.get("budget")
    if budget is not None:  # an optional section: no row unless it ran
        same = budget["same_final_states"]
        gains = (("fewer_writes", "writes, FIFO / budget-aware"), ("sooner", "time to fresh, FIFO / budget-aware"))
        for key, label in gains:
            value = budget[key]
            rows.append(_row(f"{label} (same final states: {'yes' if same else 'NO'})",
                             f">= {MIN_BUDGET_GAIN:.0f}x", value, value >= MIN_BUDGET_GAIN and same, "{:.2f}x"))
    return rows


def _row(name: str, target: str, value: float | None, ok: bool | None, fmt: str) -> dict[str, Any]:
    shown = "not measured" if value is None else fmt.format(value)
    return {"name": name, "target": target, "value": value, "shown": shown,
            "result": "n/a" if ok is None else ("pass" if ok else "MISS")}


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    config = results["config"]
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `python -m benchmarks` on {m['date']}. See benchmarks/README.md for what each number means.",
        "",
        f"- Machine: {m['cores']} cores, {m['cpu']}, {m['platform']}",
        f"- Python {m['python']}, aiohttp {m['aiohttp']}, httpx {m['httpx']}, gett-async {m['gett_async']}"
        f" (commit {m.get('commit', 'unknown')}), {m['event_loop']}",
        f"- Server: {m['server']}; {m.get('pinning', 'not pinned')}",
        f"- Config: rounds={config['rounds']}, requests per cell={config['requests']}"
        f" (concurrency 1: {config['requests_c1']}; httpx, shown for reference, at most 2000), quick={config['quick']}",
        "",
        "## Targets",
        "",
        "| Target | Wanted | Measured | Result |",
        "|---|---|---|---|",
    ]
    lines += [f"| {t['name']} | {t['target']} | {t['shown']} | {t['result']} |" for t in results["targets"]]
    if "throughput" in results:
        lines += ["", "## Throughput (medians over rounds; ratios are medians of per-round ratios)", "",
                  "| Concurrency | Client | updates/s | p50 ms | p99 ms | vs baseline | per-round min to max"
                  " | CPU µs/update | CPU vs baseline |", "|---|---|---|---|---|---|---|---|---|"]
        for concurrency, entry in results["throughput"].items():
            for name in NAMES:
                c = entry[name]
                ratio = "1.00x" if name in BASELINES else f"{entry['ratios'][RATIOS[name]]:.3f}x"
                low, high = (1.0, 1.0) if name in BASELINES else entry["ratio_ranges"][RATIOS[name]]
                cpu_ratio = "1.00x" if name in BASELINES else f"{entry['cpu_ratios'][RATIOS[name]]:.3f}x"
                lines.append(f"| {concurrency} | {name} | {c['updates_per_s']:,.0f} | {c['p50_ms']:.2f} |"
                             f" {c['p99_ms']:.2f} | {ratio} | {low:.3f}x to {high:.3f}x |"
                             f" {c['cpu_us_per_update']:.1f} | {cpu_ratio} |")
    if "instructions" in results:
        rate, how = instructions_per_us(results)
        lines += ["", "## Instructions per update (valgrind; the noise-free figure)", "",
                  instructions.markdown(results["instructions"]), "",
                  f"Instructions per CPU µs: {rate:,.0f}, {how}."]
    if "cpu" in results:
        us = results["cpu"]["us"]
        lines += ["", f"## SDK CPU cost per update (µs, no I/O, median of {results['cpu']['repeat']} runs"
                  f" of {results['cpu']['iterations']:,})", "", "| Piece | µs |", "|---|---|"]
        lines += [f"| {key} | {value:.2f} |" for key, value in us.items()]
    if "memory" in results:
        mem = results["memory"]
        lines += ["", "## Memory while streaming (fake transport, fresh process per size)", "",
                  "| Events | Peak RSS MB | RSS before stream MB | Seconds | Events/s |", "|---|---|---|---|---|"]
        lines += [f"| {r['events']:,} | {r['peak_rss_mb']:.1f} | {r['rss_before_mb']:.1f} | {r['seconds']:.1f} |"
                  f" {r['events_per_s']:,.0f} |" for r in mem["runs"]]
        lines += ["", f"Growth: {mem['growth_mb']:.1f} MB. The transport is a fake that answers 204 at once, so "
                  "this measures the stream's own state (trackers, queues, the closed-order LRU), not aiohttp's."]
    if "budget" in results:
        b = results["budget"]
        c = b["config"]
        lines += ["", f"## What the budget buys ({c['events']:,} events over {c['orders']:,} orders in bursts of"
                  f" {c['burst']} every {c['every']:g} s; {c['writes']} writes per {c['window']:g} s, sliding window;"
                  f" concurrency {c['concurrency']})", "",
                  "| Stream | Write requests | Applied | 429s | Superseded | Seconds to fresh |",
                  "|---|---|---|---|---|---|"]
        for name, key in (("FIFO (strict=True)", "fifo"), ("budget-aware (default)", "budget_aware")):
            r = b[key]
            lines.append(f"| {name} | {r['write_requests']:,} | {r['applied_updates']:,} | {r['rate_limited']:,} |"
                         f" {r['outcomes'].get('superseded', 0):,} | {r['seconds_to_fresh']:.1f} |")
        lines += ["", f"{b['fewer_writes']:.2f}x fewer writes, {b['sooner']:.2f}x sooner to fresh; same final state"
                  f" (position and ETA) for every order: {'yes' if b['same_final_states'] else 'NO'}."]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], json_path: Path, markdown_path: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(markdown(results))
