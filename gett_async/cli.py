"""The ``gett-async`` command line: demo, send, replay, emulator.

Every error a user can cause (a missing key, a bad order id, an unreadable file) ends as
one line on stderr and a non-zero exit, never a traceback. ``send`` and ``replay`` write to
production only when asked to (``--live`` or ``GETT_ENVIRONMENT=production``), and name
their target on stderr before the first write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import os
import re
import signal
import stat
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import IO, TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import attrs

from . import _console
from ._core.paths import BASE_URLS, as_environment
from ._version import __version__
from .errors import APIConnectionError, APIError, GettError, GettValidationError
from .orders import EventSourceError, OrderStream, OutcomeKind, UpdateOutcome
from .orders.stream import Batch, CircuitBreaker, OutcomeRecord, StreamAbortedError

if TYPE_CHECKING:
    from .checkpoints import FileCheckpoint, SqliteCheckpoint
    from .client import GettClient


class UsageError(Exception):
    """The command line, its environment or its input file is wrong (exit 2); nothing was sent."""


# -- where send and replay write ---------------------------------------------------------------


@attrs.frozen(slots=True)
class Target:
    """Where ``send`` and ``replay`` write: ``base_url``, the Gett ``environment`` it is
    (None for any other server) and ``chosen_by``, what chose it, for the target line."""

    base_url: str
    environment: str | None
    chosen_by: str

    @property
    def label(self) -> str:
        """``sandbox; no target chosen``, ``production; --live``, ``GETT_BASE_URL`` ..."""
        return f"{self.environment}; {self.chosen_by}" if self.environment else self.chosen_by


def resolve_target(
    *, base_url: str | None = None, sandbox: bool = False, live: bool = False, environ: Mapping[str, str]
) -> Target:
    """Where to write, from the flags and the ``GETT_*`` variables of ``environ``.

    GettClient's order, with flags before variables: ``--base-url``, ``--sandbox`` or
    ``--live``, then ``GETT_BASE_URL``, then ``GETT_ENVIRONMENT``; with nothing chosen, the
    sandbox. Unlike GettClient, production is never the default. An empty variable counts
    as unset. Refuses (UsageError): an unknown ``GETT_ENVIRONMENT``, and ``--live`` while
    ``GETT_BASE_URL`` or ``GETT_ENVIRONMENT=sandbox`` points elsewhere. The base URL itself
    is checked by GettClient.
    """
    env_url = environ.get("GETT_BASE_URL") or None
    env_name = environ.get("GETT_ENVIRONMENT") or None
    if env_name is not None and env_name not in BASE_URLS:
        # The value is not echoed: whatever sits in the environment stays out of the output.
        raise UsageError(f"GETT_ENVIRONMENT: must be {' or '.join(BASE_URLS)} (or unset)")
    if live:
        # A shell set up for a test target is exactly where a production write is a mistake:
        # --live overrides nothing, it must be the only choice that is made.
        if env_url is not None:
            raise UsageError("--live: conflicts with GETT_BASE_URL; unset it to write to production")
        if env_name == "sandbox":
            raise UsageError("--live: conflicts with GETT_ENVIRONMENT=sandbox; unset it to write to production")
        return Target(BASE_URLS["production"], "production", "--live")
    if base_url is not None:
        return Target(base_url, _environment_of(base_url), "--base-url")
    if sandbox:
        return Target(BASE_URLS["sandbox"], "sandbox", "--sandbox")
    if env_url is not None:
        return Target(env_url, _environment_of(env_url), "GETT_BASE_URL")
    if env_name is not None:
        return Target(BASE_URLS[env_name], env_name, f"GETT_ENVIRONMENT={env_name}")
    return Target(BASE_URLS["sandbox"], "sandbox", "no target chosen")


def _environment_of(base_url: str) -> str | None:
    """The Gett environment whose host ``base_url`` names, so the target line never hides production."""
    try:
        host = (urlsplit(base_url).hostname or "").rstrip(".")
    except ValueError:  # refused by GettClient a moment later, with its reason
        return None
    return next((name for name, url in BASE_URLS.items() if urlsplit(url).hostname == host), None)


# -- exit codes: one meaning each, the same in every sub-command --------------------------------

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C

#: What each code means, for --help and the README (a test keeps the README's table in step).
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "all done: every update sent (or superseded by a later event of its order)"),
    (EXIT_REFUSED, "some updates refused, locally or by Gett (the outcomes say which); for demo, a check failed"),
    (
        EXIT_USAGE,
        "usage or input-file error: bad arguments or target, missing GETT_API_KEY, bad --eta, "
        "an input file that is missing, unreadable or breaks off mid-way",
    ),
    (
        EXIT_UNREACHABLE,
        "Gett unreachable (connection error, timeout, 429 or 5xx after retries) or the key rejected (401/403); "
        "for replay, the stream aborted on either",
    ),
    (
        EXIT_INTERRUPTED,
        "interrupted (Ctrl-C or SIGTERM); replay drains first: in-flight updates finish and are recorded",
    ),
)
#: Gett answers that say nothing about the update itself: retrying later, or another key, may help.
_UNREACHABLE_STATUSES = frozenset({401, 403, 429})


def exit_code_for(error: BaseException) -> int:
    """The exit code of what ended a command, or of the error of one failed update.

    Usage, file and input errors 2; no answer, 401/403, and 429/5xx still failing after
    retries 3; a refusal, local (GettValidationError) or by Gett (any other status), and
    anything else that failed one update 1.
    """
    if isinstance(error, (UsageError, OSError, EventSourceError)):
        return EXIT_USAGE
    if isinstance(error, APIConnectionError):
        return EXIT_UNREACHABLE
    if isinstance(error, APIError) and (error.status in _UNREACHABLE_STATUSES or error.status >= 500):
        return EXIT_UNREACHABLE
    return EXIT_REFUSED


def _exit_codes_help() -> str:
    rows = (
        textwrap.fill(meaning, 88, initial_indent=f"  {code:<3}  ", subsequent_indent=" " * 7)
        for code, meaning in EXIT_CODES
    )
    return "exit codes (when several apply, the highest wins):\n" + "\n".join(rows)


_TARGET_HELP = """\
target (the first that applies; a flag wins over an environment variable):
  --base-url URL, --sandbox or --live
  GETT_BASE_URL, then GETT_ENVIRONMENT (production or sandbox)
  nothing chosen: the sandbox, never production
--live conflicts with GETT_BASE_URL and with GETT_ENVIRONMENT=sandbox (a usage error):
it never overrides a shell set up for another target. The target is printed on stderr
before the first write. The key is read only from GETT_API_KEY and never printed."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(
        prog="gett-async",
        description="Gett Commerce Partner API from the command line (gett-async SDK).",
        epilog=f"{_exit_codes_help()}\n\nsend and replay: see their --help for where they write.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gett-async {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = sub.add_parser("demo", help="stream ~200 order lifecycles through the built-in emulator, with faults")
    demo.add_argument("--orders", type=_positive, default=200, help="orders to create (default 200)")
    demo.add_argument("--concurrency", type=_positive, default=32, help="requests in flight (default 32)")
    demo.add_argument("--fault-rate", type=_fraction, default=0.2, help="share of writes faulted (default 0.2)")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the plan and the faults")
    demo.add_argument("--no-progress", action="store_true", help="no live progress line")

    target = _Parser(add_help=False)
    where = target.add_mutually_exclusive_group()
    where.add_argument("--sandbox", action="store_true", help="Gett's sandbox (also where nothing chosen writes)")
    where.add_argument("--live", action="store_true", help="Gett's production: live orders")
    where.add_argument("--base-url", help="another server, e.g. a running emulator (http:// only on loopback)")
    footer = f"{_TARGET_HELP}\n\n{_exit_codes_help()}"

    send = sub.add_parser(
        "send", parents=[target], help="send one order update (key from GETT_API_KEY)",
        description="Send one order update. The API key comes from the GETT_API_KEY environment variable.",
        epilog=footer,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    send.add_argument("order_id", help="the Gett order id (a UUID)")
    what = send.add_mutually_exclusive_group(required=True)
    what.add_argument("--status", help="confirmed | preparing | ready | inTransit")
    what.add_argument("--complete", action="store_true", help="close the order as completed")
    what.add_argument("--cancel", metavar="REASON", help="cancel the order with this reason")
    send.add_argument("--eta", help="estimated ready time: RFC 3339 with offset, or +15m / +1h from now")

    replay = sub.add_parser(
        "replay", parents=[target], help="stream order events from a JSON-lines file (or - for stdin)",
        description=(
            "Stream wire-form order events (JSON objects with orderId, status, state, estimatedReadyAt,\n"
            "cancelReason), one per line; an unparseable line is a refused outcome and the run goes on.\n"
            "The API key comes from the GETT_API_KEY environment variable."
        ),
        epilog=footer,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("file", help="a .jsonl file, or - for standard input")
    replay.add_argument("--out", help="write one outcome per input line here (JSON lines)")
    replay.add_argument(
        "--state", metavar="STATE",
        help="a checkpoint to resume from and record into (sqlite; a .jsonl name makes it a JSON-lines log); "
             "created if missing, bound to FILE",
    )
    replay.add_argument("--retry-failed", action="store_true", help="with --state: send failed events again")
    replay.add_argument("--key-field", help="the field naming each event (default: its line number)")
    replay.add_argument("--ignore-unknown-keys", action="store_true", help="accept fields besides the wire keys")
    replay.add_argument(
        "--connection-failures", type=_positive, default=3, metavar="N",
        help="stop after N connection failures in a row, each after the client's retries and a pause (default 3)",
    )
    replay.add_argument("--concurrency", type=_positive, default=16, help="requests in flight (default 16)")
    replay.add_argument("--strict", action="store_true", help="allow only the next status (no skipping)")
    replay.add_argument("--no-progress", action="store_true", help="no live progress line")

    emulator = sub.add_parser("emulator", help="run the Gett emulator on loopback until Ctrl-C")
    emulator.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    emulator.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0 picks a free one)")
    emulator.add_argument("--api-key", help="the key clients must send (default: a random one, printed)")
    emulator.add_argument("--writes-per-minute", type=_count, default=100, help="0 means no limit (default 100)")
    emulator.add_argument("--reads-per-minute", type=_count, default=1000, help="0 means no limit (default 1000)")
    emulator.add_argument("--fault-rate", type=_fraction, default=0.0, help="share of writes faulted (default 0)")
    emulator.add_argument("--seed", type=int, default=None, help="seed of the faults")
    emulator.add_argument("--webhook-url", help="Webhook Base URL (loopback only) to send placed orders to")
    emulator.add_argument("--webhook-secret", help="secret to sign webhooks with (default: $GETT_WEBHOOK_SECRET)")
    emulator.add_argument("--orders-per-minute", type=_count, default=0, help="orders to place a minute (default 0)")
    emulator.add_argument("--stores", type=_count, default=0, help="live stores to seed; their ids are printed")
    emulator.add_argument(
        "--onboarding-step-seconds", type=_seconds, default=2.0,
        help="seconds per onboarding stage (default 2: ready 4 s after registering; 0: at once)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        with contextlib.ExitStack() as files:
            if args.command == "replay" and args.retry_failed and not args.state:
                raise UsageError("--retry-failed: goes with --state (only a state knows which lines failed)")
            if args.command == "replay":  # opened here: file I/O stays out of the event loop
                # Bytes, decoded line by line: one line that is not UTF-8 is refused on its own.
                stdin = getattr(sys.stdin, "buffer", sys.stdin)
                args.source = stdin if args.file == "-" else files.enter_context(open(args.file, "rb"))
                args.store = files.enter_context(_open_state(args)) if args.state else None
                args.sink = files.enter_context(open(args.out, "w", encoding="utf-8")) if args.out else None
            run = asyncio.run
            if args.command in ("replay", "demo"):
                # The [uvloop] extra, when installed: this process's own bulk commands, not a library user's loop.
                import importlib

                with contextlib.suppress(ImportError):
                    run = importlib.import_module("uvloop").run
            return run(_dispatch(args))
    except KeyboardInterrupt:
        print("gett-async: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (GettError, UsageError, OSError) as exc:
        print(f"gett-async: error: {_one_line(exc)}", file=sys.stderr)
        return exit_code_for(exc)


async def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from ._demo import run_demo

        return await run_demo(
            orders=args.orders, concurrency=args.concurrency, fault_rate=args.fault_rate, seed=args.seed,
            progress=not args.no_progress,
        )
    if args.command == "send":
        return await _send(args)
    if args.command == "replay":
        return await _replay(args)
    return await _emulator(args)


def _client(args: argparse.Namespace) -> GettClient:
    """A client for the chosen target, named on stderr; refuses (UsageError) what GettClient would."""
    from .client import GettClient

    target = resolve_target(base_url=args.base_url, sandbox=args.sandbox, live=args.live, environ=os.environ)
    if not os.environ.get("GETT_API_KEY"):
        raise UsageError("GETT_API_KEY: is not set; export your API key (it is never read from arguments)")
    try:
        # base_url= always, so GettClient writes exactly where the line below says, never
        # re-reading GETT_BASE_URL itself; environment= keeps its repr honest.
        environment = None if target.environment is None else as_environment(target.environment)
        client = GettClient(base_url=target.base_url, environment=environment)
    except GettValidationError as exc:  # a bad base URL or key is the caller's setup, not a refused update
        raise UsageError(str(exc)) from None
    # GettClient has checked the URL by now: it carries no credentials, query or fragment.
    print(f"gett-async: target {client.base_url} ({target.label})", file=sys.stderr)
    return client


async def _send(args: argparse.Namespace) -> int:
    eta = _eta(args.eta) if args.eta else None
    if eta is not None and args.status is None:  # a close carries no ETA: refuse, never drop it silently
        raise UsageError("--eta: goes only with --status, not with --complete or --cancel")
    client = _client(args)
    async with client as gett:
        if args.complete:
            receipt = await gett.orders.complete(args.order_id)
        elif args.cancel is not None:
            receipt = await gett.orders.cancel(args.order_id, reason=args.cancel)
        else:
            receipt = await gett.orders.update_status(args.order_id, status=args.status, estimated_ready_at=eta)
    print(f"sent: HTTP {receipt.status} after {receipt.attempts} attempt(s)")
    return EXIT_OK


class _Line(dict[str, Any]):
    """A parsed input line that remembers its line number (outcomes carry the event back),
    which is also its key unless ``--key-field`` names one."""

    line: int = 0

    @property
    def key(self) -> int:
        return self.line


#: How many non-ok outcomes are named on stderr when there is no --out.
FIRST_REASONS = 10


@contextlib.contextmanager
def _open_state(args: argparse.Namespace) -> Iterator[FileCheckpoint | SqliteCheckpoint]:
    """The --state store, locked and bound to the input file by size and sha256.

    Refuses (UsageError): standard input (nothing to bind to), a state bound to another
    input, one another run holds, one that is not a checkpoint.
    """
    from .checkpoints import CheckpointError, FileCheckpoint, SqliteCheckpoint

    if args.file == "-":
        raise UsageError("--state: needs a FILE, not standard input (the state is bound to the file it replays)")
    digest, size = hashlib.sha256(), 0
    with open(args.file, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    kind = FileCheckpoint if args.state.endswith(".jsonl") else SqliteCheckpoint
    try:
        store = kind(args.state)
    except CheckpointError as exc:
        raise UsageError(f"--state: {exc}") from None
    except OSError as exc:
        raise UsageError(f"--state: cannot open {args.state}: {exc.strerror or exc}") from None
    try:
        store.bind({"size": size, "sha256": digest.hexdigest()})
    except CheckpointError as exc:
        store.close()
        raise UsageError(f"--state: {exc}") from None
    with store:
        yield store


class _Interrupts:
    """SIGINT/SIGTERM during replay: the first drains the stream (no more input, in-flight
    updates finish and are recorded), the second cancels what is in flight (a resumed run
    sends it again). Installed before the target line, so no signal finds it missing."""

    def __init__(self) -> None:
        self.count = 0
        self.stream: OrderStream[Any] | None = None

    def __call__(self) -> None:
        self.count += 1
        if self.count == 1:
            in_flight = 0 if self.stream is None else self.stream.in_flight
            print(f"gett-async: stopping: {in_flight} update(s) in flight finish first (again to cancel them)",
                  file=sys.stderr)
        self.apply()

    def apply(self) -> None:
        if self.stream is not None and self.count:
            self.stream.stop(cancel_in_flight=self.count > 1)


async def _replay(args: argparse.Namespace) -> int:
    interrupts = _Interrupts()
    with _signals(interrupts):
        code = await _replay_stream(args, interrupts)
    if interrupts.count:
        print("gett-async: interrupted", file=sys.stderr)
        code = max(code, EXIT_INTERRUPTED)
    return code


def _queued_writes(stream: OrderStream[Any]) -> str:
    """The replay progress line's note: the writes queued and how long they take at Gett's
    production limit (100 a minute; the stream cannot know a budget shared with others)."""
    pending = stream.pending_writes
    if not pending:
        return ""
    return f"queued={pending} (~{_console.duration(stream.estimated_drain_seconds())} at 100 writes/min)"


async def _replay_stream(args: argparse.Namespace, interrupts: _Interrupts) -> int:
    client = _client(args)
    out: IO[str] | None = args.sink
    store: FileCheckpoint | SqliteCheckpoint | None = args.store
    counts = {kind.value: 0 for kind in OutcomeKind}
    malformed: list[dict[str, Any]] = []
    reasons: list[dict[str, Any]] = []  # the first non-ok outcomes, for stderr when there is no --out
    aborted: list[dict[str, Any]] = []  # not in the state (not final): still one record each in --out
    broken: EventSourceError | None = None
    code = EXIT_OK  # the highest of every outcome's: the codes are ordered by severity

    def note(record: dict[str, Any]) -> None:
        if record["kind"] not in ("sent", "superseded") and len(reasons) < FIRST_REASONS:
            reasons.append(record)
        if store is None:
            _write(out, record)
        elif record["kind"] == "aborted":
            aborted.append(record)

    async with client as gett:
        events = _read_lines(args.source, malformed)
        with _console.Progress("replaying", None, enabled=not args.no_progress) as bar:

            def flush_malformed() -> None:  # lines that never became events
                nonlocal code
                while malformed:
                    record = malformed.pop(0)
                    if store is not None:
                        if store.outcome(record["line"]) is not None:
                            counts["skipped"] = counts.get("skipped", 0) + 1
                            continue
                        store.write(Batch([OutcomeRecord(record["line"], "refused", None, record["error"])], {}))
                    code = max(code, EXIT_REFUSED)
                    counts["refused"] += 1
                    bar.advance("refused")
                    note(record)

            stream = gett.orders.stream(
                events, concurrency=args.concurrency, strict=args.strict, checkpoint=store,
                retry_failed=args.retry_failed, key_field=args.key_field,
                ignore_unknown_keys=args.ignore_unknown_keys,
                breaker=CircuitBreaker(connection_failures=args.connection_failures),
            )
            interrupts.stream = stream
            interrupts.apply()  # a signal that came before the stream existed
            async with stream:
                try:
                    async for outcome in stream:
                        code = max(code, _outcome_code(outcome))
                        counts[outcome.kind.value] += 1
                        bar.advance(outcome.kind.value, _queued_writes(stream))
                        note(_outcome_record(outcome))
                        flush_malformed()
                except EventSourceError as exc:
                    broken = exc
            flush_malformed()
    skipped = stream.skipped + counts.pop("skipped", 0)
    if store is not None:
        code = max(code, _recorded_code(store, out, aborted, by_line=args.key_field is None))
    if out is None:
        _print_reasons(reasons, sum(n for kind, n in counts.items() if kind not in ("sent", "superseded")))
    print(" ".join(
        f"{kind}={n}" for kind, n in [*counts.items(), ("skipped", skipped)]
        if n or kind in ("sent", "refused", "failed", "superseded")  # the newer kinds only when they happened
    ))
    if broken is not None:  # the input broke off: what follows it was never read
        print(f"gett-async: error: reading {args.file} failed: {_one_line(broken.error)}", file=sys.stderr)
        code = max(code, exit_code_for(broken))
    if stream.abort_error is not None and stream.abort_error.cause is not None:
        print(f"gett-async: error: stopped early: {_one_line(stream.abort_error)}", file=sys.stderr)
    return code


@contextlib.contextmanager
def _signals(handler: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``handler`` while inside (where the loop supports it)."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, handler)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            continue
        installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _recorded_code(
    store: FileCheckpoint | SqliteCheckpoint, out: IO[str] | None, aborted: list[dict[str, Any]], *, by_line: bool
) -> int:
    """With --state: write --out from the state (every line recorded so far, plus this run's
    aborted ones), and the exit code the recorded outcomes call for (a resumed run that sends
    nothing still reports what earlier runs left to fix). ``by_line``: the keys are line
    numbers (no --key-field); else they are named ``key`` (malformed lines keep their number)."""
    records = sorted(store.records(), key=lambda r: (isinstance(r.key, str), r.key))
    if out is not None:
        for record in records:
            name = "line" if by_line or record.order_id is None else "key"
            line: dict[str, Any] = {name: record.key, "orderId": record.order_id, "kind": record.kind}
            if record.error is not None:
                line["error"] = record.error
            if record.attempts:
                line["attempts"] = record.attempts
            _write(out, line)
        for line in aborted:
            _write(out, line)
    return EXIT_REFUSED if any(r.kind not in ("sent", "superseded") for r in records) else EXIT_OK


def _print_reasons(reasons: list[dict[str, Any]], total: int) -> None:
    for record in reasons:
        error = str(record.get("error", "")).removeprefix(f"line {record['line']}: ")  # said once is enough
        print(f"gett-async: line {record['line']}: {record['kind']}: {error}", file=sys.stderr)
    if total > len(reasons):
        print(f"gett-async: ... and {total - len(reasons)} more not ok (--out FILE lists every line)", file=sys.stderr)


def _outcome_code(outcome: UpdateOutcome) -> int:
    if outcome.ok:
        return EXIT_OK
    if isinstance(outcome.error, StreamAbortedError):
        # A stop asked for exits 130 (the caller counts signals); the breaker's cause says 3.
        return EXIT_OK if outcome.error.cause is None else exit_code_for(outcome.error.cause)
    # Every refused or failed outcome carries its error; a missing one still is no success.
    return exit_code_for(outcome.error) if outcome.error is not None else EXIT_REFUSED


async def _read_lines(source: IO[Any], malformed: list[dict[str, Any]]) -> AsyncIterator[_Line]:
    """Parsed JSON objects, lazily; an unparseable line becomes a refused record instead."""
    async for number, text in _numbered(source):
        if text is None:
            malformed.append(_refused_line(number, "not UTF-8 text"))
            continue
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            malformed.append(_refused_line(number, f"not JSON ({exc})"))
            continue
        if not isinstance(value, dict):
            malformed.append(_refused_line(number, f"not a JSON object but {type(value).__name__}"))
            continue
        event = _Line(value)
        event.line = number
        yield event


async def _numbered(source: IO[Any]) -> AsyncIterator[tuple[int, str | None]]:
    """(line number, text) pairs; text None for a line that is not UTF-8; a leading BOM dropped.

    A regular file is read in the loop (a local read is quick). A pipe or terminal may block
    for as long as its producer likes, so each of its lines is read in a thread, keeping the
    requests in flight (and their timers) running meanwhile.
    """
    blocking = not _is_regular_file(source)
    number = 0
    while True:
        raw = await asyncio.to_thread(source.readline) if blocking else source.readline()
        if not raw:
            return
        number += 1
        yield number, _decode(raw, first=number == 1)
        if not blocking:
            await asyncio.sleep(0)  # let outcomes flow while a large file is read


def _decode(raw: str | bytes, *, first: bool) -> str | None:
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff") if first else raw
    try:
        return raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        return None


def _is_regular_file(source: IO[Any]) -> bool:
    try:
        return stat.S_ISREG(os.fstat(source.fileno()).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):
        return False


def _refused_line(number: int, why: str) -> dict[str, Any]:
    return {"line": number, "orderId": None, "kind": "refused", "error": f"line {number}: {why}"}


def _outcome_record(outcome: UpdateOutcome) -> dict[str, Any]:
    event = outcome.event
    record: dict[str, Any] = {
        "line": getattr(event, "line", outcome.index + 1),
        **({} if outcome.key == getattr(event, "line", None) else {"key": outcome.key}),
        "orderId": outcome.order_id,
        "kind": outcome.kind.value,
    }
    if outcome.kind is not OutcomeKind.SENT:
        if outcome.error is not None:
            record["error"] = _one_line(outcome.error)
        elif outcome.kind is OutcomeKind.SUPERSEDED:
            record["error"] = f"superseded by a later event of the same order (key {outcome.superseded_by!r})"
    if outcome.attempts:
        record["attempts"] = outcome.attempts
    return record


def _write(out: IO[str] | None, record: dict[str, Any]) -> None:
    if out is not None:
        out.write(json.dumps(record) + "\n")


async def _emulator(args: argparse.Namespace) -> int:
    from .testing import FaultConfig, serve_forever

    faults = FaultConfig.spread(args.fault_rate)
    try:
        await serve_forever(
            args.host, args.port, out=_print_flushed, api_key=args.api_key, faults=faults, seed=args.seed,
            writes_per_window=args.writes_per_minute or None, reads_per_window=args.reads_per_minute or None,
            window_seconds=60.0, auto_create_orders=True, orders_per_minute=args.orders_per_minute or None,
            stores=args.stores, onboarding_step_seconds=args.onboarding_step_seconds, **_webhook_options(args),
        )
    except GettValidationError as exc:  # the emulator's options are this command line's: a usage error
        raise UsageError(str(exc)) from None
    return EXIT_OK


def _webhook_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.webhook_url is None and args.webhook_secret is None:
        return {}
    secret = args.webhook_secret or os.environ.get("GETT_WEBHOOK_SECRET")
    return {"webhook_url": args.webhook_url, "webhook_secret": secret}


def _print_flushed(line: str) -> None:
    # The URL and key are read by scripts through a pipe, where stdout is block-buffered.
    print(line, flush=True)


_RELATIVE = re.compile(r"\+(\d+)([smh])")


def _eta(text: str) -> datetime:
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours"}[match.group(2)]
        return datetime.now(timezone.utc) + timedelta(**{unit: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise UsageError(f"--eta: must be RFC 3339 with an offset (2026-01-15T13:30:00Z) or +15m: {text!r}")
    return when


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        value = int(text)
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {low}-{high}, got {value}" if high is not None
                                             else f"must be at least {low}, got {value}")
        return value

    return parse


_positive, _port, _count = _int_in(1), _int_in(0, 65535), _int_in(0)


def _seconds(text: str) -> float:
    """An argparse type: finite seconds >= 0."""
    value = float(text)
    if not 0.0 <= value < float("inf"):  # NaN fails this too
        raise argparse.ArgumentTypeError(f"must be finite seconds >= 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
