"""The ``gett-async`` command line: demo, send, replay, emulator.

Every error a user can cause (a missing key, a bad order id, an unreadable file) ends as
one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import stat
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import IO, Any, NoReturn

from . import _console
from ._version import __version__
from .errors import GettError, GettValidationError
from .stream import EventSourceError, OutcomeKind, UpdateOutcome

EXIT_OK, EXIT_REFUSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(
        prog="gett-async",
        description="Gett Commerce Partner API from the command line (gett-async SDK).",
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
    where.add_argument("--sandbox", action="store_true", help="Gett's sandbox instead of production")
    where.add_argument("--base-url", help="another server, e.g. a running emulator (http:// only on loopback)")

    send = sub.add_parser(
        "send", parents=[target], help="send one order update (key from GETT_API_KEY)",
        description="Send one order update. The API key comes from the GETT_API_KEY environment variable.",
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
            "Stream wire-form order events (JSON objects with orderId, status, state, estimatedReadyAt, "
            "cancelReason), one per line. Exit 0 when every event was sent or superseded, 1 when any was "
            "refused or malformed, 2 when any failed after retries."
        ),
    )
    replay.add_argument("file", help="a .jsonl file, or - for standard input")
    replay.add_argument("--out", help="write one outcome per input line here (JSON lines)")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        with contextlib.ExitStack() as files:
            if args.command == "replay":  # opened here: file I/O stays out of the event loop
                # Bytes, decoded line by line: one line that is not UTF-8 is refused on its own.
                stdin = getattr(sys.stdin, "buffer", sys.stdin)
                args.source = stdin if args.file == "-" else files.enter_context(open(args.file, "rb"))
                args.sink = files.enter_context(open(args.out, "w", encoding="utf-8")) if args.out else None
            return asyncio.run(_dispatch(args))
    except KeyboardInterrupt:
        print("gett-async: interrupted", file=sys.stderr)
        return 130
    except (GettError, OSError) as exc:
        print(f"gett-async: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED if not isinstance(exc, GettValidationError) else EXIT_USAGE


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


def _client(args: argparse.Namespace) -> Any:
    from .client import GettClient

    if not os.environ.get("GETT_API_KEY"):
        raise GettValidationError("GETT_API_KEY", "is not set; export your API key (it is never read from arguments)")
    if args.base_url:
        return GettClient(base_url=args.base_url)
    return GettClient(environment="sandbox" if args.sandbox else "production")


async def _send(args: argparse.Namespace) -> int:
    eta = _eta(args.eta) if args.eta else None
    if eta is not None and args.status is None:  # a close carries no ETA: refuse, never drop it silently
        raise GettValidationError("--eta", "goes only with --status, not with --complete or --cancel")
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
    """A parsed input line that remembers its line number (outcomes carry the event back)."""

    line: int = 0


async def _replay(args: argparse.Namespace) -> int:
    client = _client(args)
    out: IO[str] | None = args.sink
    counts = {kind.value: 0 for kind in OutcomeKind}
    malformed: list[dict[str, Any]] = []
    broken: EventSourceError | None = None
    async with client as gett:
        events = _read_lines(args.source, malformed)
        with _console.Progress("replaying", None, enabled=not args.no_progress) as bar:

            def flush_malformed() -> None:  # lines that never became events
                while malformed:
                    counts["refused"] += 1
                    bar.advance("refused")
                    _write(out, malformed.pop(0))

            async with gett.orders.stream(events, concurrency=args.concurrency, strict=args.strict) as stream:
                try:
                    async for outcome in stream:
                        counts[outcome.kind.value] += 1
                        bar.advance(outcome.kind.value)
                        _write(out, _outcome_record(outcome))
                        flush_malformed()
                except EventSourceError as exc:
                    broken = exc
            flush_malformed()
    print(" ".join(f"{kind}={n}" for kind, n in counts.items()))
    if broken is not None:  # the input broke off: what follows it was never read
        print(f"gett-async: error: reading {args.file} failed: {_one_line(broken.error)}", file=sys.stderr)
        return EXIT_FAILED
    if counts["failed"]:
        return EXIT_FAILED
    return EXIT_REFUSED if counts["refused"] else EXIT_OK


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
        "orderId": outcome.order_id,
        "kind": outcome.kind.value,
    }
    if outcome.kind is not OutcomeKind.SENT:
        if outcome.error is not None:
            record["error"] = _one_line(outcome.error)
        elif outcome.kind is OutcomeKind.SUPERSEDED:
            record["error"] = "superseded by a newer ETA for the same order"
    if outcome.attempts:
        record["attempts"] = outcome.attempts
    return record


def _write(out: IO[str] | None, record: dict[str, Any]) -> None:
    if out is not None:
        out.write(json.dumps(record) + "\n")


async def _emulator(args: argparse.Namespace) -> int:
    from .testing import FaultConfig, serve_forever

    faults = FaultConfig.spread(args.fault_rate)
    await serve_forever(
        args.host, args.port, out=_print_flushed, api_key=args.api_key, faults=faults, seed=args.seed,
        writes_per_window=args.writes_per_minute or None, reads_per_window=args.reads_per_minute or None,
        window_seconds=60.0, auto_create_orders=True, orders_per_minute=args.orders_per_minute or None,
        **_webhook_options(args),
    )
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
        raise GettValidationError("--eta", f"must be RFC 3339 with an offset (2026-01-15T13:30:00Z) or +15m: {text!r}")
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


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
