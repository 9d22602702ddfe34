"""Checkpoint stores for `gett.orders.stream(events, checkpoint=...)`: resume a batch run.

A store holds, as a run goes, each event's final outcome by its key and, for each order the
run moved, where it stands (position, ETA, strictness, the key of its failed event if one
failed; closed orders as closed). A stream started on the same store skips the events that
are done and continues every order where it was. Two stores ship, with the same behaviour:

- `FileCheckpoint(path)`: an append-only JSON-lines log, one line per batch written at once.
  A half-written last line (a crash mid-write) is dropped when the log is opened; any other
  unreadable line is refused. The whole log is read into memory at open.
- `SqliteCheckpoint(path)`: a sqlite database (stdlib ``sqlite3``, WAL), one transaction per
  batch; lookups are point queries, so memory stays flat however long the run.

What is durable when: a batch's outcomes and the order records they moved are written in one
line / one transaction, so one is never durable without the other; ``write`` returns after
``fsync`` (the file) or a ``synchronous=FULL`` commit (sqlite), unless ``durable=False``
(then a batch survives a crash of the process, not of the machine). The stream sends an
order's next event only after ``write`` returned for its previous one.

Each store takes an exclusive lock (``flock``) while open: a second run on the same store is
refused (`CheckpointLockedError`), never interleaved. `bind` ties a store to one input (e.g.
its size and sha256): a store bound to another input is refused (`CheckpointMismatchError`).
On platforms without ``fcntl`` there is no lock.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .errors import GettError
from .orders.stream.checkpoint import Batch, Checkpoint, OutcomeRecord
from .orders.stream.events import EventKey

try:  # POSIX only: elsewhere the lock is not taken
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "Batch",
    "Checkpoint",
    "CheckpointError",
    "CheckpointLockedError",
    "CheckpointMismatchError",
    "FileCheckpoint",
    "OutcomeRecord",
    "SqliteCheckpoint",
]

#: The header member of a store that says what it is.
FORMAT = "gett-async-checkpoint/1"


class CheckpointError(GettError):
    """A checkpoint store cannot be used: unreadable, or not a checkpoint."""


class CheckpointLockedError(CheckpointError):
    """Another run (or another store object) holds this store."""


class CheckpointMismatchError(CheckpointError):
    """The store was made for another input than the one it is asked to continue."""


def _key_text(key: EventKey) -> str:
    # JSON keeps 1 and "1" apart, and reads back as what was written.
    return json.dumps(key)


def _lock(handle: IO[Any], path: Path) -> None:
    if fcntl is None:  # pragma: no cover
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise CheckpointLockedError(f"{path}: in use by another run (it holds the lock)") from None


class _Binding:
    """The header check both stores share."""

    @staticmethod
    def check(path: Path, header: Mapping[str, Any] | None, has_records: bool, binding: Mapping[str, Any]) -> bool:
        """True when the header must be written now; refuses a store bound to something else."""
        if header is None:
            if has_records:
                raise CheckpointMismatchError(f"{path}: holds outcomes but no input binding; use a new state")
            return True
        if dict(header) != dict(binding):
            raise CheckpointMismatchError(
                f"{path}: was made for another input ({_describe(header)}), not this one ({_describe(binding)})"
            )
        return False


def _describe(binding: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {str(value)[:16]}" for name, value in sorted(binding.items()))


class FileCheckpoint:
    """A checkpoint in an append-only JSON-lines file at ``path`` (created if missing).

    Refuses (CheckpointError) a file that is not such a log, and (CheckpointLockedError) one
    another open store holds. A last line cut short by a crash is dropped on open.
    """

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.path = Path(path)
        self.durable = durable
        self._outcomes: dict[str, OutcomeRecord] = {}
        self._orders: dict[str, dict[str, Any]] = {}
        self._header: dict[str, Any] | None = None
        self._writing = threading.Lock()  # the stream's worker thread and a caller may both write
        self._file: IO[bytes] | None = open(self.path, "a+b")  # noqa: SIM115 (held open until close)
        _lock(self._file, self.path)
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> None:
        assert self._file is not None
        self._file.seek(0)
        *complete, tail = self._file.read().split(b"\n")
        offset = 0
        for number, raw in enumerate(complete, start=1):
            try:
                self._apply(json.loads(raw))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                if number == len(complete) and not tail:  # the last record, torn by a crash
                    break
                raise CheckpointError(f"{self.path}: line {number} is not a checkpoint record ({exc})") from None
            offset += len(raw) + 1
        else:
            if not tail:
                return
        # A record cut short by a crash (no newline after it): drop it, so the next append
        # starts on a line of its own.
        self._file.truncate(offset)
        self._file.flush()

    def _apply(self, item: Any) -> None:
        if "format" in item:
            if item["format"] != FORMAT:
                raise CheckpointError(f"{self.path}: not a {FORMAT} file")
            self._header = item.get("input")
            return
        for data in item["outcomes"]:
            record = OutcomeRecord.from_json(data)
            self._outcomes[_key_text(record.key)] = record
        for order_id, order in item["orders"].items():
            self._orders[order_id] = dict(order)

    def _append(self, item: Mapping[str, Any]) -> None:
        line = json.dumps(item, separators=(",", ":")).encode() + b"\n"
        with self._writing:
            if self._file is None:
                raise CheckpointError(f"{self.path}: the store is closed")
            self._file.write(line)  # one write: a crash leaves at most this line torn
            self._file.flush()
            if self.durable:
                os.fsync(self._file.fileno())

    # -- the Checkpoint protocol ---------------------------------------------------------

    def outcome(self, key: EventKey) -> OutcomeRecord | None:
        return self._outcomes.get(_key_text(key))

    def order(self, order_id: str) -> Mapping[str, Any] | None:
        return self._orders.get(order_id)

    def write(self, batch: Batch) -> None:
        """Append ``batch`` as one line (fsynced when ``durable``)."""
        self._append(
            {"outcomes": [o.to_json() for o in batch.outcomes], "orders": {k: dict(v) for k, v in batch.orders.items()}}
        )
        for record in batch.outcomes:
            self._outcomes[_key_text(record.key)] = record
        for order_id, order in batch.orders.items():
            self._orders[order_id] = dict(order)

    # -- more than the protocol ------------------------------------------------------------

    def bind(self, binding: Mapping[str, Any]) -> None:
        """Tie the store to one input (e.g. ``{"size": ..., "sha256": ...}``); refuses
        (CheckpointMismatchError) a store already tied to another, or holding outcomes untied."""
        if _Binding.check(self.path, self._header, bool(self._outcomes or self._orders), binding):
            self._append({"format": FORMAT, "input": dict(binding)})
            self._header = dict(binding)

    def records(self) -> Iterator[OutcomeRecord]:
        """Every final outcome recorded, in no particular order."""
        return iter(list(self._outcomes.values()))

    def __len__(self) -> int:
        """How many events have a final outcome recorded."""
        return len(self._outcomes)

    def close(self) -> None:
        """Release the lock and the file (idempotent)."""
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()

    def __enter__(self) -> FileCheckpoint:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, order_id TEXT, error TEXT, attempts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, record TEXT NOT NULL);
"""


class SqliteCheckpoint:
    """A checkpoint in a sqlite database at ``path`` (created if missing), one transaction
    per batch. Refuses (CheckpointError) a file that is not such a database, and
    (CheckpointLockedError) one another open store holds (the lock is ``<path>.lock``).
    """

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.path = Path(path)
        self.durable = durable
        self._lockfile: IO[bytes] | None = open(self.path.with_name(self.path.name + ".lock"), "a+b")  # noqa: SIM115
        _lock(self._lockfile, self.path)
        try:
            # Reads run in the event loop's thread, writes in a worker thread: one connection
            # each (WAL lets a reader and a writer work at once), never shared at the same time.
            self._write = self._connect()
            self._read = self._connect()
        except BaseException:
            self.close()
            raise
        self._writing = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            connection.executescript(_SCHEMA)
            row = connection.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            if row is not None and row[0] != FORMAT:
                raise CheckpointError(f"{self.path}: not a {FORMAT} database")
        except sqlite3.DatabaseError as exc:
            raise CheckpointError(f"{self.path}: not a checkpoint database ({exc})") from None
        return connection

    # -- the Checkpoint protocol ---------------------------------------------------------

    def outcome(self, key: EventKey) -> OutcomeRecord | None:
        row = self._read.execute(
            "SELECT kind, order_id, error, attempts FROM outcomes WHERE key = ?", (_key_text(key),)
        ).fetchone()
        return None if row is None else OutcomeRecord(key, row[0], row[1], row[2], row[3])

    def order(self, order_id: str) -> Mapping[str, Any] | None:
        row = self._read.execute("SELECT record FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def write(self, batch: Batch) -> None:
        """Record ``batch`` in one transaction (committed with ``synchronous=FULL`` when ``durable``)."""
        with self._writing:
            connection = self._write
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(
                    "INSERT OR REPLACE INTO outcomes (key, kind, order_id, error, attempts) VALUES (?, ?, ?, ?, ?)",
                    [(_key_text(o.key), o.kind, o.order_id, o.error, o.attempts) for o in batch.outcomes],
                )
                connection.executemany(
                    "INSERT OR REPLACE INTO orders (order_id, record) VALUES (?, ?)",
                    [(order_id, json.dumps(dict(record))) for order_id, record in batch.orders.items()],
                )
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    # -- more than the protocol ------------------------------------------------------------

    def bind(self, binding: Mapping[str, Any]) -> None:
        """Tie the store to one input (e.g. ``{"size": ..., "sha256": ...}``); refuses
        (CheckpointMismatchError) a store already tied to another, or holding outcomes untied."""
        row = self._read.execute("SELECT value FROM meta WHERE name = 'input'").fetchone()
        header = None if row is None else json.loads(row[0])
        has_records = self._read.execute("SELECT EXISTS (SELECT 1 FROM outcomes)").fetchone()[0] == 1
        if _Binding.check(self.path, header, has_records, binding):
            with self._writing:
                self._write.execute("BEGIN IMMEDIATE")
                self._write.executemany(
                    "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                    [("format", FORMAT), ("input", json.dumps(dict(binding)))],
                )
                self._write.execute("COMMIT")

    def records(self) -> Iterator[OutcomeRecord]:
        """Every final outcome recorded, in no particular order."""
        rows = self._read.execute("SELECT key, kind, order_id, error, attempts FROM outcomes")
        for key, kind, order_id, error, attempts in rows:
            yield OutcomeRecord(json.loads(key), kind, order_id, error, attempts)

    def __len__(self) -> int:
        """How many events have a final outcome recorded."""
        return int(self._read.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0])

    def close(self) -> None:
        """Close the database and release the lock (idempotent)."""
        for name in ("_read", "_write"):
            connection = getattr(self, name, None)
            if connection is not None:
                connection.close()
                setattr(self, name, None)
        handle, self._lockfile = self._lockfile, None
        if handle is not None:
            handle.close()

    def __enter__(self) -> SqliteCheckpoint:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
