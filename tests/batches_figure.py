"""The interrupted-replay figure: `gett-async replay FILE --state STATE` as a real subprocess
against an in-process emulator with faults, interrupted by SIGINT at random points and by
SIGKILL once, resumed each time, then checked against what an uninterrupted run leaves.

``tests/test_batches_interrupted.py`` runs it within the CI budget; for the full figure::

    python tests/batches_figure.py --events 20000 --orders 4000 --sigints 3

Interruptions are sent when the emulator has answered a random share of the writes the run
needs (its request count: observable progress, never a sleep). After the last interruption
the command is resumed until it ends on its own, then with ``--retry-failed`` until no line is
``failed`` (a failure after the client's retries is a final outcome until retried).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_reliability import FAULTS, Planned, interleave, plan

from gett_async.checkpoints import FileCheckpoint, SqliteCheckpoint
from gett_async.orders import OrderEvent
from gett_async.testing import FaultConfig, GettEmulator

ROOT = Path(__file__).resolve().parent.parent


@attrs.define
class Run:
    """One invocation of the command: how it ended and what it cost."""

    signal: str | None  # SIGINT / SIGKILL sent to it, or None
    exit_code: int
    requests: int  # requests the emulator received during it
    seconds: float
    stdout: str
    in_flight: int | None = None  # what the command said was in flight when a SIGINT came
    extra_writes: int = 0  # writes that repeated one applied in an earlier run


def wire(event: OrderEvent) -> dict[str, Any]:
    line: dict[str, Any] = {"orderId": event.order_id}
    if event.status is not None:
        line["status"] = event.status
    if event.state is not None:
        line["state"] = event.state
    if event.estimated_ready_at is not None:
        line["estimatedReadyAt"] = event.estimated_ready_at.isoformat().replace("+00:00", "Z")
    if event.cancel_reason is not None:
        line["cancelReason"] = event.cancel_reason
    return line


def expected_positions(planned: list[Planned]) -> dict[str, tuple[str, Any]]:
    """Where an uninterrupted run with no failures leaves each order: its position and ETA."""
    state: dict[str, tuple[str, Any]] = {}
    for p in planned:
        if p.illegal is not None:
            continue
        event = p.event
        position, eta = state.get(event.order_id, ("pending", None))
        target = event.state or event.status or position
        closing = target in ("completed", "cancelled")
        state[event.order_id] = (target, eta if closing else event.estimated_ready_at)
    return state


async def _wait_for(condition: Any, proc: asyncio.subprocess.Process) -> bool:
    """Poll ``condition`` (the emulator's counters) until true, or the process ended."""
    while not condition():
        if proc.returncode is not None:
            return False
        await asyncio.sleep(0.005)  # a poll interval, not a synchronisation: the condition decides
    return True


async def run_figure(
    *,
    workdir: Path,
    events: int = 20_000,
    orders: int = 4_000,
    sigints: int = 3,
    sigkill: bool = True,
    concurrency: int = 32,
    faults: FaultConfig = FAULTS,
    seed: int = 20261129,
    state_name: str = "state.db",
) -> dict[str, Any]:
    rng = random.Random(seed)
    async with GettEmulator(faults=faults, seed=seed, writes_per_window=0, reads_per_window=0) as emu:
        order_ids = [emu.create_order() for _ in range(orders)]
        planned = interleave(plan(rng, order_ids, events), rng)
        source, state, out = workdir / "events.jsonl", workdir / state_name, workdir / "outcomes.jsonl"
        source.write_text("".join(json.dumps(wire(p.event)) + "\n" for p in planned), encoding="utf-8")
        legal = sum(1 for p in planned if p.illegal is None)
        # Interruptions at random shares of the legal writes, in order; SIGKILL at one of them.
        shares = sorted(rng.uniform(0.1, 0.9) for _ in range(sigints + int(sigkill)))
        kinds = ["SIGINT"] * sigints + (["SIGKILL"] if sigkill else [])
        rng.shuffle(kinds)
        plan_of_signals = list(zip(shares, kinds, strict=True))
        env = {**os.environ, "GETT_API_KEY": emu.api_key, "PYTHONPATH": str(ROOT)}
        runs: list[Run] = []
        boundaries: list[int] = []

        async def invoke(*extra: str, interrupt: tuple[float, str] | None = None) -> Run:
            boundaries.append(len(emu.requests))
            before, started = len(emu.requests), time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gett_async", "replay", str(source), "--state", str(state), "--out", str(out),
                "--base-url", emu.url, "--no-progress", "--concurrency", str(concurrency), *extra,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=env, cwd=str(workdir),
            )  # fmt: skip
            sent_signal = None
            if interrupt is not None:
                share, name = interrupt
                threshold = int(share * legal)
                if await _wait_for(lambda: emu.stats.applied_updates >= threshold, proc):
                    os.kill(proc.pid, getattr(signal, name))
                    sent_signal = name
            stdout, stderr = await proc.communicate()
            assert b"Traceback" not in stderr, stderr.decode()[-2000:]
            stopping = re.search(rb"stopping: (\d+) update\(s\) in flight", stderr)
            run = Run(sent_signal, proc.returncode or 0, len(emu.requests) - before, time.perf_counter() - started,
                      stdout.decode().strip(), int(stopping.group(1)) if stopping else None)
            runs.append(run)
            return run

        started = time.perf_counter()
        for interrupt in plan_of_signals:
            await invoke(interrupt=interrupt)
        resumed = await invoke()  # to the end, on its own
        assert resumed.exit_code in (0, 1, 3), resumed
        retries = 0
        while _failed(state) and retries < 5:  # failures after the client's retries are final until retried
            await invoke("--retry-failed")
            retries += 1
        finished = await invoke()  # a finished run sends nothing
        wall = time.perf_counter() - started

        # A wrong key: the first 401 stops the run; at most ``concurrency`` requests in all.
        before = emu.stats.requests
        wrong = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gett_async", "replay", str(source), "--state", str(workdir / "wrong-key.db"),
            "--base-url", emu.url, "--no-progress", "--concurrency", str(concurrency),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**env, "GETT_API_KEY": "zpka_test_revoked"}, cwd=str(workdir),
        )  # fmt: skip
        wrong_out, _ = await wrong.communicate()
        wrong_key = {
            "exit_code": wrong.returncode,
            "requests": emu.stats.requests - before,
            "stdout": wrong_out.decode().strip(),
        }

        # -- the checks ------------------------------------------------------------------------
        records = _records(state)
        kinds_by_line = {r["key"]: r["kind"] for r in records}
        lines = list(range(1, len(planned) + 1))
        one_each = sorted(kinds_by_line) == lines and len(records) == len(planned)
        wrong_kind = [
            n for n, p in zip(lines, planned, strict=True)
            if (p.illegal is not None) != (kinds_by_line.get(n) == "refused")
            or kinds_by_line.get(n) not in ("sent", "superseded", "refused")
        ]
        expected = expected_positions(planned)
        differing = [
            oid for oid, (position, eta) in expected.items()
            if (emu.order(oid).position, emu.order(oid).estimated_ready_at) != (position, eta)
        ]
        # Each order's history is exactly its sent lines, once each, in input order.
        sent_by_order: dict[str, list[tuple[str, Any, Any]]] = {}
        for n, p in zip(lines, planned, strict=True):
            if kinds_by_line.get(n) == "sent":
                position = sent_by_order.get(p.event.order_id, [("pending", None, None)])[-1][0]
                target = p.event.state or p.event.status or position
                sent_by_order.setdefault(p.event.order_id, []).append(
                    (target, p.event.estimated_ready_at, p.event.cancel_reason)
                )
        history_differs = [
            oid for oid in order_ids
            if [(u.position, u.estimated_ready_at, u.cancel_reason) for u in emu.order(oid).history]
            != sent_by_order.get(oid, [])
        ]
        # Extra writes: a write applied in an earlier run and sent again after an interruption.
        applied_in: dict[tuple[str, str], int] = {}
        attempts: dict[tuple[str, str], list[tuple[int, Any, Any]]] = {}
        repeated_after_sigint: list[list[tuple[int, Any, Any]]] = []
        boundaries.append(len(emu.requests))
        for run_index in range(len(runs)):
            for record in emu.requests[boundaries[run_index]:boundaries[run_index + 1]]:
                key = (record.path, json.dumps(record.body, sort_keys=True))
                attempts.setdefault(key, []).append((run_index, record.status, record.fault))
                if record.operation != "order_status" or not (record.status == 204 or record.fault == "drop_after"):
                    continue
                first = applied_in.setdefault(key, run_index)
                if first < run_index:
                    runs[run_index].extra_writes += 1
                    if runs[run_index - 1].signal == "SIGINT":
                        repeated_after_sigint.append(attempts[key])
        stats = emu.stats
        return {
            "events": len(planned),
            "orders": orders,
            "illegal_planted": len(planned) - legal,
            "concurrency": concurrency,
            "fault_rate": round(sum(getattr(faults, k) for k in ("error_500", "error_502", "error_503", "error_429",
                                                                 "drop_before", "drop_after")), 3),
            "runs": [attrs.asdict(r) for r in runs],
            # (signal, exit code of the interrupted run, requests it said were in flight (SIGINT),
            #  writes the next run repeated because of it)
            "interruptions": [
                (r.signal, r.exit_code, r.in_flight, runs[i + 1].extra_writes) for i, r in enumerate(runs) if r.signal
            ],
            "retry_failed_runs": retries,
            "finished_run_requests": finished.requests,
            "finished_run_exit": finished.exit_code,
            "one_outcome_each": one_each,
            "lines_with_wrong_kind": len(wrong_kind),
            "orders_not_as_uninterrupted": len(differing),
            "orders_with_other_history": len(history_differs),
            "outcomes": dict(Counter(kinds_by_line.values())),
            "requests": stats.requests,
            "applied_updates": stats.applied_updates,
            "idempotent_repeats": stats.idempotent_repeats,
            "illegal_transitions": stats.illegal_transitions,
            "faults_injected": stats.faults_injected,
            "max_extra_writes_per_interruption": max(
                (runs[i + 1].extra_writes for i, r in enumerate(runs) if r.signal), default=0
            ),
            # Retrying a failed line whose write was applied (a drop after apply) repeats it too.
            "extra_writes_of_retried_failures": sum(
                r.extra_writes for i, r in enumerate(runs) if i > 0 and not runs[i - 1].signal
            ),
            "wall_seconds": round(wall, 2),
            "wrong_key": wrong_key,
            # Each write repeated after a drain: its attempts as (run, status, fault).
            "repeated_after_sigint": repeated_after_sigint,
        }


def _records(state: Path) -> list[dict[str, Any]]:
    if state.suffix == ".jsonl":
        with FileCheckpoint(state) as store:
            return [{"key": r.key, "kind": r.kind} for r in store.records()]
    with SqliteCheckpoint(state) as store:
        return [{"key": r.key, "kind": r.kind} for r in store.records()]


def _failed(state: Path) -> bool:
    if state.suffix == ".jsonl":
        return any(r["kind"] == "failed" for r in _records(state))
    with sqlite3.connect(state) as db:
        return bool(db.execute("SELECT EXISTS (SELECT 1 FROM outcomes WHERE kind = 'failed')").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=4_000)
    parser.add_argument("--sigints", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--state", default="state.db", help="state file name (.jsonl: the JSON-lines store)")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        figure = asyncio.run(run_figure(
            workdir=Path(args.workdir or tmp), events=args.events, orders=args.orders, sigints=args.sigints,
            concurrency=args.concurrency, seed=args.seed, state_name=args.state,
        ))
    print(json.dumps(figure, indent=2, default=str))


if __name__ == "__main__":
    main()
