"""``python -m benchmarks``: throughput vs hand-written clients, SDK CPU cost, streaming memory,
and (only when asked: ``--sections budget``, minutes of scaled budget) what budget-aware
stream scheduling saves.

Writes benchmarks/results/latest.json and benchmarks/RESULTS.md (or both into ``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import budget, clients, cpu, instructions, memory, report
from .server import Server, local_server, pin

HERE = Path(__file__).resolve().parent
SECTIONS = ("throughput", "cpu", "memory")
#: Sections run only when named in --sections (not by default).
OPTIONAL = ("budget",)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--concurrency", default="1,64,256", help="comma-separated (default 1,64,256)")
    parser.add_argument("--requests", type=int, default=20_000,
                        help="POSTs per cell at every concurrency (default 20000; httpx: at most 2000)")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions per update under valgrind (see benchmarks/instructions.py)")
    parser.add_argument("--instruction-concurrency", default="1,64",
                        help="concurrencies of the instruction counts (default 1,64)")
    parser.add_argument("--instruction-rounds", type=int, default=1, help="rounds of instruction counts (default 1)")
    parser.add_argument("--server", choices=("auto", "nginx", "python"), default="auto",
                        help="local server: nginx if installed (auto), or the Python one")
    parser.add_argument("--url", help="target this server instead of starting one")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin the client and the local server to separate cores")
    parser.add_argument("--cpu-iterations", type=int, default=20_000)
    parser.add_argument("--events", default="100000,1000000", help="stream sizes for the RSS runs")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help="subset of throughput,cpu,memory,budget (default: all but budget)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run: 1 round, concurrency 1,8, 2k/10k events")
    parser.add_argument("--out", type=Path, help="directory for latest.json and RESULTS.md")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                        help="event loop of the throughput cells (uvloop: pip install 'gett-async[uvloop]')")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.concurrency, args.requests = 1, "1,8", 60
        args.cpu_iterations, args.events = 2_000, "2000,10000"
        args.instruction_concurrency = "1"
    args.concurrencies = [int(c) for c in args.concurrency.split(",")]
    args.sizes = [int(n) for n in args.events.split(",")]
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = set(args.sections) - set(SECTIONS) - set(OPTIONAL)
    if unknown or len(args.sizes) != 2:
        parser.error(f"unknown sections {sorted(unknown)}" if unknown else "--events needs two sizes")
    args.requests_c1 = args.requests
    return args


@contextlib.contextmanager
def target(args: argparse.Namespace) -> Iterator[Server]:
    if args.url:
        yield Server(args.url.rstrip("/"), "external", f"external server at {args.url}")
    else:
        with local_server(args.server) as server:
            yield server


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def throughput(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """Rounds outermost, contenders innermost: A B C D A B C D ... so drift hits all alike."""
    rounds: dict[int, dict[str, list[dict[str, float]]]] = {
        c: {n: [] for n in clients.NAMES} for c in args.concurrencies
    }
    for number in range(1, args.rounds + 1):
        for concurrency in args.concurrencies:
            n = args.requests_c1 if concurrency == 1 else args.requests
            shown = []
            for name in clients.NAMES:
                gc.collect()
                # httpx is shown for reference only, and ~30x slower above 16 concurrent requests.
                cell = report.cell(clients.run_cell(name, url, concurrency, min(n, 2000) if name == "httpx" else n))
                rounds[concurrency][name].append(cell)
                shown.append(f"{name} {cell['updates_per_s']:,.0f}/s")
            say(f"round {number}/{args.rounds} concurrency {concurrency}: " + ", ".join(shown))
    return report.summarise(rounds)


def main(argv: list[str]) -> None:
    args = parse(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {"config": {
        "rounds": args.rounds, "concurrency": args.concurrencies, "requests": args.requests,
        "requests_c1": args.requests_c1, "cpu_iterations": args.cpu_iterations, "events": args.sizes,
        "quick": args.quick, "instructions": args.instructions,
    }}
    with target(args) as server:
        pinning = pin(server) if args.pin else "not pinned (--no-pin)"
        clients.LOOP = args.loop
        results["machine"] = report.machine(f"{server.kind}: {server.description}", pinning, args.loop)
        say(f"server: {server.kind} at {server.url}")
        if "throughput" in args.sections:
            results["throughput"] = throughput(args, server.url)
        if args.instructions:
            if instructions.valgrind() is None:
                raise SystemExit(instructions.MISSING)
            say("instructions: counting under valgrind (a few minutes per contender) ...")
            small, large = (50, 150) if args.quick else (300, 1500)
            results["instructions"] = instructions.run(
                server.url, [int(c) for c in args.instruction_concurrency.split(",")], small, large,
                args.instruction_rounds, say=say)
    if "cpu" in args.sections:
        say("cpu: timing request build, tracker cycle, parse_event ...")
        results["cpu"] = cpu.run(args.cpu_iterations, 1 if args.quick else 5)
    if "memory" in args.sections:
        say(f"memory: streaming {args.sizes[0]:,} and {args.sizes[1]:,} events in fresh processes ...")
        results["memory"] = memory.run(*args.sizes)
    if "budget" in args.sections:
        # --quick: a smoke run of the same comparison (seconds, not minutes; figures not meaningful).
        scale = {"orders": 40, "writes": 20, "window": 0.5, "burst": 60, "every": 0.1} if args.quick else {}
        say("budget: the same bursts through a strict (FIFO) and a budget-aware stream at a scaled budget ...")
        results["budget"] = budget.run(**scale)  # type: ignore[arg-type]
    results["targets"] = report.targets(results)
    results["seconds"] = time.perf_counter() - started
    out = args.out
    json_path = (out or HERE / "results") / "latest.json"
    markdown_path = (out or HERE) / "RESULTS.md"
    report.write(results, json_path, markdown_path)
    print(report.markdown(results))
    say(f"wrote {json_path} and {markdown_path} in {results['seconds']:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
