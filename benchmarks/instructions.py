"""Instructions per update, counted by valgrind: the noise-free figure beside wall time.

Wall time on a shared machine moves with everyone else's load; the number of instructions the
client executes per request does not. Each contender runs in a child interpreter under
``valgrind --tool=cachegrind --cache-sim=no`` (which only counts instructions) against the local
server (its own process, never under valgrind), twice: with ``small`` and with ``large``
requests after the same warm-up. ``(I(large) - I(small)) / (large - small)`` is the cost of one
more update, free of interpreter start-up, imports, the client's set-up and the warm-up.

``python3 dev.py bench --instructions`` runs this (``python -m benchmarks.instructions``); the
valgrind from the Debian package (``apt-get install valgrind``) is enough.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import clients
from .server import local_server

HERE = Path(__file__).resolve().parent
#: The contenders counted: hand-written aiohttp and the SDK, without and with an ETA; "harness"
#: is the benchmark's own per-request cost (ids, workers, latencies), included in every figure.
NAMES = ("harness", "aiohttp", "update_status", "aiohttp_eta", "update_status_eta", "sdk_on_aiohttp_eta")
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def valgrind() -> str | None:
    return shutil.which("valgrind")


def count(name: str, url: str, concurrency: int, n: int, source: Path = HERE.parent) -> int:
    """Instructions the child executes to run ``name`` for ``n`` timed requests (plus warm-up)."""
    binary = valgrind()
    if binary is None:
        raise SystemExit(MISSING)
    command = [
        binary, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, "-m", "benchmarks.instructions", "--child", name, url, str(concurrency), str(n),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts in every run
    done = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True, check=False)
    found = _REFS.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind run of {name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_update(name: str, url: str, concurrency: int, small: int, large: int, source: Path = HERE.parent) -> float:
    large_run = count(name, url, concurrency, large, source)
    return (large_run - count(name, url, concurrency, small, source)) / (large - small)


MISSING = (
    "valgrind is not installed: `python3 dev.py bench --instructions` counts instructions with it "
    "(Debian/Ubuntu: sudo apt-get install valgrind)"
)


def run(url: str, concurrencies: list[int], small: int, large: int, rounds: int,
        names: tuple[str, ...] = NAMES, say: Any = None, source: Path = HERE.parent) -> dict[str, Any]:
    """Instructions per update for each contender at each concurrency, median over ``rounds``."""
    cells: dict[str, dict[str, Any]] = {}
    for concurrency in concurrencies:
        per_name: dict[str, list[float]] = {name: [] for name in names}
        for number in range(rounds):
            for name in names:
                per_name[name].append(per_update(name, url, concurrency, small, large, source))
                if say:
                    say(f"instructions round {number + 1}/{rounds} c={concurrency} {name}: "
                        f"{per_name[name][-1]:,.0f}/update")
        cells[str(concurrency)] = {
            name: {"median": statistics.median(v), "min": min(v), "max": max(v), "rounds": v}
            for name, v in per_name.items()
        }
    return {"small": small, "large": large, "rounds": rounds, "cells": cells}


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Instructions per update (valgrind cachegrind; (I({results['large']:,}) - I({results['small']:,})) / "
        f"{results['large'] - results['small']:,}; median of {results['rounds']} round(s), min to max in brackets).",
        "",
        "| Concurrency | Client | instructions/update | over its aiohttp baseline |",
        "|---|---|---|---|",
    ]
    for concurrency, cell in results["cells"].items():
        for name, figures in cell.items():
            base = "aiohttp_eta" if name.endswith("_eta") else "aiohttp"
            over = ""
            if base in cell and name not in (base, "harness"):
                delta = figures["median"] - cell[base]["median"]
                over = f"{delta:+,.0f} ({figures['median'] / cell[base]['median']:.3f}x)"
            lines.append(f"| {concurrency} | {name} | {figures['median']:,.0f} "
                         f"[{figures['min']:,.0f} to {figures['max']:,.0f}] | {over} |")
    return "\n".join(lines)


async def _harness(url: str, concurrency: int, n: int) -> clients.Run:
    async def one(order_id: str) -> None:
        pass

    return await clients._timed(concurrency, n, one)


def _child(name: str, url: str, concurrency: int, n: int) -> None:
    # "harness": the ids, the workers and the latency list alone, which every contender pays.
    asyncio.run(_harness(url, concurrency, n) if name == "harness" else clients.RUNNERS[name](url, concurrency, n))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--child", nargs=4, metavar=("NAME", "URL", "CONCURRENCY", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", default="64", help="comma-separated (default 64)")
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--large", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--names", default=",".join(NAMES))
    parser.add_argument("--server", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--source", type=Path, default=HERE.parent,
                        help="run the children from this directory (a copy holding gett_async/ and benchmarks/), "
                             "to count another version of the SDK")
    args = parser.parse_args(argv)
    if args.child:
        name, url, concurrency, n = args.child
        _child(name, url, int(concurrency), int(n))
        return
    if valgrind() is None:
        raise SystemExit(MISSING)
    with local_server(args.server) as server:
        results = run(server.url, [int(c) for c in args.concurrency.split(",")], args.small, args.large,
                      args.rounds, tuple(args.names.split(",")),
                      say=lambda text: print(text, file=sys.stderr, flush=True), source=args.source)
    print(markdown(results))


if __name__ == "__main__":
    main(sys.argv[1:])
