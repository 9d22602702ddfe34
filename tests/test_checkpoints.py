"""The checkpoint stores on their own: what they keep, torn records, locks, input binding."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gett_async.checkpoints import (
    Batch,
    CheckpointError,
    CheckpointLockedError,
    CheckpointMismatchError,
    FileCheckpoint,
    OutcomeRecord,
    SqliteCheckpoint,
)

Store = FileCheckpoint | SqliteCheckpoint
A = "00000000-0000-0000-0000-000000000001"
OPEN_A = {"orderId": A, "status": "ready", "state": "open", "strict": False, "estimatedReadyAt": None}


@pytest.fixture(params=["file", "sqlite"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    path = tmp_path / ("state.jsonl" if request.param == "file" else "state.db")
    kind: type[Store] = FileCheckpoint if request.param == "file" else SqliteCheckpoint
    return lambda: kind(path)


def test_a_store_keeps_outcomes_by_key_and_orders_by_id_across_opens(make: Callable[[], Store]) -> None:
    with make() as store:
        assert store.outcome(1) is None and store.order(A) is None and len(store) == 0
        store.write(Batch([OutcomeRecord(1, "sent", A, None, 2), OutcomeRecord("1", "refused", None, "bad")],
                          {A: OPEN_A}))
        store.write(Batch([OutcomeRecord(1, "failed", A, "503", 4)], {}))  # the newer record wins
    with make() as store:
        assert store.outcome(1) == OutcomeRecord(1, "failed", A, "503", 4)
        assert store.outcome("1") == OutcomeRecord("1", "refused", None, "bad", 0)  # 1 and "1" stay apart
        assert store.order(A) == OPEN_A
        assert len(store) == 2 and sorted(r.kind for r in store.records()) == ["failed", "refused"]


def test_a_second_open_of_a_held_store_is_refused(make: Callable[[], Store]) -> None:
    with make(), pytest.raises(CheckpointLockedError, match="in use by another run"):
        make()
    make().close()  # released on close


def test_a_store_is_bound_to_one_input(make: Callable[[], Store]) -> None:
    with make() as store:
        store.bind({"size": 10, "sha256": "ab"})
        store.bind({"size": 10, "sha256": "ab"})  # the same input: fine
        store.write(Batch([OutcomeRecord(1, "sent", A)], {A: OPEN_A}))
    with make() as store, pytest.raises(CheckpointMismatchError, match="another input"):
        store.bind({"size": 10, "sha256": "cd"})


def test_a_store_with_outcomes_but_no_binding_is_not_bound_afterwards(make: Callable[[], Store]) -> None:
    with make() as store:
        store.write(Batch([OutcomeRecord(1, "sent", A)], {}))
        with pytest.raises(CheckpointMismatchError, match="no input binding"):
            store.bind({"size": 1, "sha256": "x"})


def test_a_half_written_last_record_is_dropped_and_the_log_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    with FileCheckpoint(path) as store:
        store.write(Batch([OutcomeRecord(1, "sent", A)], {A: OPEN_A}))
    whole = path.read_bytes()
    torn = json.dumps({"outcomes": [{"key": 2, "kind": "sent", "orderId": A}], "orders": {}}).encode()
    path.write_bytes(whole + torn[: len(torn) // 2])  # the crash came mid-write
    with FileCheckpoint(path) as store:
        assert store.outcome(1) is not None and store.outcome(2) is None  # the torn one never happened
        store.write(Batch([OutcomeRecord(3, "sent", A)], {}))
    assert path.read_bytes().startswith(whole) and path.read_bytes().count(b"\n") == 2
    with FileCheckpoint(path) as store:
        assert {r.key for r in store.records()} == {1, 3}


def test_a_damaged_record_before_the_last_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    with FileCheckpoint(path) as store:
        store.write(Batch([OutcomeRecord(1, "sent", A)], {}))
        store.write(Batch([OutcomeRecord(2, "sent", A)], {}))
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([b"{not json", *lines[1:]]))
    with pytest.raises(CheckpointError, match="line 1 is not a checkpoint record"):
        FileCheckpoint(path)


@pytest.mark.parametrize("content", [b"SQLite? no, just text\n" * 50, b"\x00\x01garbage" * 100])
def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a checkpoint database"):
        SqliteCheckpoint(path)


def test_a_log_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    path.write_text(json.dumps({"format": "something-else/9"}) + "\n" + json.dumps({"x": 1}) + "\n")
    with pytest.raises(CheckpointError, match="not a gett-async-checkpoint/1 file"):
        FileCheckpoint(path)


def test_outcome_records_round_trip_as_json() -> None:
    records = [OutcomeRecord(7, "blocked", A, "not sent: event 3 failed"), OutcomeRecord("e-9", "sent")]
    back: list[Any] = [OutcomeRecord.from_json(json.loads(json.dumps(r.to_json()))) for r in records]
    assert back == records
