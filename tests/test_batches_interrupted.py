"""The reliability figure of interrupted batch runs, within the CI budget (about 40 s here).

`gett-async replay FILE --state STATE` runs as a real subprocess against an in-process
emulator faulting 20 % of the writes; 20,000 events over 4,000 orders, interrupted by SIGINT
at three random points and by SIGKILL once (signals sent with ``os.kill`` when the emulator
has applied a random share of the writes), resumed each time. See ``tests/batches_figure.py``.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from batches_figure import run_figure

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")

CONCURRENCY = 128


async def test_an_interrupted_and_resumed_replay_ends_as_an_uninterrupted_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figure = await run_figure(workdir=tmp_path, events=20_000, orders=4_000, sigints=3, sigkill=True,
                              concurrency=CONCURRENCY)
    with capsys.disabled():  # the figures belong in CI's log
        print("\ninterrupted replay:", json.dumps({k: v for k, v in figure.items() if k != "runs"}))

    signals = [name for name, _code, _in_flight, _extra in figure["interruptions"]]
    assert sorted(signals) == ["SIGINT", "SIGINT", "SIGINT", "SIGKILL"]
    assert all(code == (130 if name == "SIGINT" else -9) for name, code, _, _ in figure["interruptions"])
    # Every line has exactly one final outcome; refused are exactly the planted mistakes.
    assert figure["one_outcome_each"] and figure["lines_with_wrong_kind"] == 0
    # Every order is where an uninterrupted run leaves it, with the same history; nothing illegal sent.
    assert figure["orders_not_as_uninterrupted"] == 0 and figure["orders_with_other_history"] == 0
    assert figure["illegal_transitions"] == 0
    # An interruption costs at most the requests then in flight (or sent and not yet recorded).
    assert all(extra <= CONCURRENCY for _name, _code, _in_flight, extra in figure["interruptions"])
    # Resuming a finished run sends nothing.
    assert figure["finished_run_requests"] == 0
    # A wrong key: one round of requests at most, then exit 3.
    assert figure["wrong_key"]["exit_code"] == 3 and figure["wrong_key"]["requests"] <= CONCURRENCY
