"""The ``gett-async`` command line, in-process through ``main()`` and as ``python -m gett_async``.

``main()`` calls ``asyncio.run``, so against an emulator running in the test's loop it runs in a
worker thread (``asyncio.to_thread``) while the loop keeps serving; subprocesses are started
with asyncio's subprocess API for the same reason.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gett_async import GettClient, cli
from gett_async.cli import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    UsageError,
    exit_code_for,
    main,
    resolve_target,
)
from gett_async.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    GettError,
    GettValidationError,
    IllegalTransitionError,
    error_class_for,
)
from gett_async.orders.stream import EventSourceError
from gett_async.testing import FaultConfig, GettEmulator

ORDER = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
SANDBOX, PRODUCTION = "https://api-sandbox.gett-tech.com", "https://api.gett-tech.com"
README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
#: Every attempt is answered 503 with retryAfter 0: the CLI's default retries take no time.
ALWAYS_503 = FaultConfig(error_503=1.0, fault_retry_after=0)
#: Every write is answered 429 with a wait beyond max_retry_wait: it fails at once, unretried.
LONG_429 = FaultConfig(error_429=1.0, fault_retry_after=3600)


@pytest.fixture(autouse=True)
def _no_gett_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own GETT_* settings must neither steer these tests nor send them to Gett."""
    for name in [name for name in os.environ if name.startswith("GETT_")]:
        monkeypatch.delenv(name)


@pytest.fixture
async def emu() -> AsyncIterator[GettEmulator]:
    async with GettEmulator() as emulator:
        yield emulator


@pytest.fixture
def keyed(emu: GettEmulator, monkeypatch: pytest.MonkeyPatch) -> GettEmulator:
    """The emulator, with its key in GETT_API_KEY (the CLI reads the key only from there)."""
    monkeypatch.setenv("GETT_API_KEY", emu.api_key)
    return emu


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("gett-async")
    return lines[0]


def _target_then_error(err: str, target: str) -> str:
    """stderr of a send or replay that got as far as its target: the target line, then one error line."""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0] == f"gett-async: target {target}"
    assert lines[1].startswith("gett-async: error: ")
    return lines[1]


def _events(path: Path, *events: dict[str, Any] | str) -> Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events), encoding="utf-8")
    return path


async def _cli(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def _env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GETT_")}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


async def _run(*argv: str, env: dict[str, str], stdin: bytes | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gett_async", *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


# -- help, usage, demo ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [[], ["demo"], ["send"], ["replay"], ["emulator"]], ids=lambda c: c[0] if c else "top"
)
def test_help_exits_0(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: gett-async")


@pytest.mark.parametrize("command", [[], ["send"], ["replay"]], ids=lambda c: c[0] if c else "top")
def test_help_lists_the_exit_codes(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # undo argparse's wrapping
    assert "exit codes (when several apply, the highest wins):" in text
    for line in (
        "0 all done",
        "1 some updates refused, locally or by Gett (the outcomes say which)",
        "2 usage or input-file error",
        "3 Gett unreachable (connection error, timeout, 429 or 5xx after retries) or the key rejected (401/403)",
        "130 interrupted",
    ):
        assert line in text
    assert all(f"{code} {meaning}" in text for code, meaning in EXIT_CODES)
    if command:
        assert "--live" in text and "nothing chosen: the sandbox, never production" in text


def test_readme_lists_the_exit_codes_and_the_targets() -> None:
    section = README[README.index("## Command line") :].replace("`", "")
    for code, meaning in EXIT_CODES:
        assert f"| {code} | {meaning} |" in section
    for words in ("--live", "GETT_ENVIRONMENT=production", "GETT_BASE_URL", "no target chosen"):
        assert words in section


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert re.fullmatch(r"gett-async \S+\n", capsys.readouterr().out)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["send"],
        ["send", ORDER],
        ["send", ORDER, "--status", "ready", "--complete"],
        ["demo", "--orders", "0"],
        ["send", ORDER, "--status", "ready", "--live", "--sandbox"],
        ["replay", "-", "--live", "--base-url", "http://127.0.0.1:9"],
    ],
    ids=["no-command", "no-order", "no-update", "two-updates", "zero-orders", "live-and-sandbox", "live-and-base-url"],
)
def test_usage_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert "(see --help)" in _one_error_line(captured.err)
    assert captured.out == ""


def test_demo_prints_the_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--orders", "30", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Summary" in out and "Checks" in out
    for promise in (
        "every event has exactly one outcome",
        "refused exactly the illegal events",
        "each sent update applied once, in order",
        "emulator saw no illegal transition",
        "no update failed after retries",
    ):
        assert promise in out
    assert "FAILED" not in out
    assert len(re.findall(r"│\s+ok \(", out)) == 5


# -- target ------------------------------------------------------------------------------------------

EMU_URL = "http://127.0.0.1:8080"
SHOUTED = "https://API.gett-tech.com."  # production all the same: hosts are case-blind, the root dot optional


@pytest.mark.parametrize(
    ("flags", "environ", "expected"),
    [
        ({}, {}, (SANDBOX, "sandbox", "no target chosen")),
        ({}, {"GETT_BASE_URL": "", "GETT_ENVIRONMENT": ""}, (SANDBOX, "sandbox", "no target chosen")),
        ({"live": True}, {}, (PRODUCTION, "production", "--live")),
        ({"live": True}, {"GETT_ENVIRONMENT": "production"}, (PRODUCTION, "production", "--live")),
        ({"sandbox": True}, {}, (SANDBOX, "sandbox", "--sandbox")),
        ({"base_url": EMU_URL}, {}, (EMU_URL, None, "--base-url")),
        ({}, {"GETT_BASE_URL": EMU_URL}, (EMU_URL, None, "GETT_BASE_URL")),
        ({}, {"GETT_ENVIRONMENT": "sandbox"}, (SANDBOX, "sandbox", "GETT_ENVIRONMENT=sandbox")),
        ({}, {"GETT_ENVIRONMENT": "production"}, (PRODUCTION, "production", "GETT_ENVIRONMENT=production")),
        # GettClient's order: GETT_BASE_URL before GETT_ENVIRONMENT.
        ({}, {"GETT_BASE_URL": EMU_URL, "GETT_ENVIRONMENT": "production"}, (EMU_URL, None, "GETT_BASE_URL")),
        # A flag wins over a variable (away from production, or to a named server).
        ({"sandbox": True}, {"GETT_ENVIRONMENT": "production"}, (SANDBOX, "sandbox", "--sandbox")),
        ({"sandbox": True}, {"GETT_BASE_URL": EMU_URL}, (SANDBOX, "sandbox", "--sandbox")),
        ({"base_url": EMU_URL}, {"GETT_ENVIRONMENT": "production"}, (EMU_URL, None, "--base-url")),
        ({"base_url": EMU_URL}, {"GETT_BASE_URL": "http://127.0.0.1:9"}, (EMU_URL, None, "--base-url")),
        # A base URL naming one of Gett's hosts is labelled as that environment.
        ({"base_url": PRODUCTION + "/"}, {}, (PRODUCTION + "/", "production", "--base-url")),
        ({}, {"GETT_BASE_URL": SHOUTED}, (SHOUTED, "production", "GETT_BASE_URL")),
        ({}, {"GETT_BASE_URL": SANDBOX}, (SANDBOX, "sandbox", "GETT_BASE_URL")),
    ],
)
def test_resolve_target(flags: dict[str, Any], environ: dict[str, str], expected: tuple[str, str | None, str]) -> None:
    target = resolve_target(**flags, environ=environ)
    assert (target.base_url, target.environment, target.chosen_by) == expected


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        ({}, {"GETT_ENVIRONMENT": "prod"}, "GETT_ENVIRONMENT: must be production or sandbox (or unset)"),
        ({"sandbox": True}, {"GETT_ENVIRONMENT": "Production"}, "GETT_ENVIRONMENT: must be"),
        ({"base_url": EMU_URL}, {"GETT_ENVIRONMENT": "live"}, "GETT_ENVIRONMENT: must be"),
        ({"live": True}, {"GETT_ENVIRONMENT": "sandbox"}, "--live: conflicts with GETT_ENVIRONMENT=sandbox"),
        ({"live": True}, {"GETT_BASE_URL": EMU_URL}, "--live: conflicts with GETT_BASE_URL"),
        ({"live": True}, {"GETT_BASE_URL": PRODUCTION, "GETT_ENVIRONMENT": "production"}, "--live: conflicts"),
    ],
)
def test_resolve_target_refuses_conflicts(flags: dict[str, Any], environ: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as refused:
        resolve_target(**flags, environ=environ)
    assert str(refused.value).startswith(message)
    assert EMU_URL not in str(refused.value)  # variables' values are not echoed


_CLIENT_ARGS = {"base_url": "base_url", "sandbox": "environment", "live": "environment"}


@pytest.mark.parametrize(
    ("flags", "environ"),
    [
        ({"sandbox": True}, {"GETT_BASE_URL": EMU_URL}),
        ({"live": True}, {}),
        ({"base_url": EMU_URL}, {"GETT_ENVIRONMENT": "sandbox"}),
        ({}, {"GETT_BASE_URL": EMU_URL, "GETT_ENVIRONMENT": "production"}),
        ({}, {"GETT_ENVIRONMENT": "sandbox"}),
        ({}, {"GETT_ENVIRONMENT": "production"}),
    ],
)
def test_a_chosen_target_is_where_gett_client_goes(
    flags: dict[str, Any], environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once something is chosen, the CLI and GettClient (given the same choice) agree."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    given: dict[str, Any] = {}
    if "base_url" in flags:
        given["base_url"] = flags["base_url"]
    if flags.get("sandbox") or flags.get("live"):
        given["environment"] = "sandbox" if flags.get("sandbox") else "production"
    client = GettClient(api_key="zpka_test_x", **given)
    assert resolve_target(**flags, environ=environ).base_url == client.base_url


async def test_gett_base_url_steers_send_and_replay(
    keyed: GettEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No flag: the write goes where GETT_BASE_URL points (not production), and stderr names it."""
    monkeypatch.setenv("GETT_BASE_URL", keyed.url)
    monkeypatch.setenv("GETT_ENVIRONMENT", "production")  # GETT_BASE_URL comes first, as in GettClient
    order_id = keyed.create_order()
    assert await _cli("send", order_id, "--status", "confirmed") == EXIT_OK
    captured = capsys.readouterr()
    assert captured.err == f"gett-async: target {keyed.url} (GETT_BASE_URL)\n"
    assert captured.out == "sent: HTTP 204 after 1 attempt(s)\n"
    assert keyed.api_key not in captured.err + captured.out

    source = _events(tmp_path / "events.jsonl", {"orderId": order_id, "status": "ready"})
    assert await _cli("replay", str(source), "--no-progress") == EXIT_OK
    captured = capsys.readouterr()
    assert captured.err == f"gett-async: target {keyed.url} (GETT_BASE_URL)\n"
    assert keyed.api_key not in captured.err + captured.out
    assert [u.position for u in keyed.order(order_id).history] == ["confirmed", "ready"]


async def test_a_flag_wins_over_gett_base_url(
    keyed: GettEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GETT_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    order_id = keyed.create_order()
    assert await _cli("send", order_id, "--status", "confirmed", "--base-url", keyed.url) == EXIT_OK
    assert capsys.readouterr().err == f"gett-async: target {keyed.url} (--base-url)\n"
    assert keyed.order(order_id).position == "confirmed"


# These name Gett's real hosts, so each one's write is refused locally before any I/O: the
# target line is checked, and no test ever talks to the internet.
@pytest.mark.parametrize(
    ("flags", "environ", "target"),
    [
        ([], {}, f"{SANDBOX} (sandbox; no target chosen)"),
        (["--sandbox"], {"GETT_ENVIRONMENT": "production"}, f"{SANDBOX} (sandbox; --sandbox)"),
        (["--live"], {}, f"{PRODUCTION} (production; --live)"),
        ([], {"GETT_ENVIRONMENT": "production"}, f"{PRODUCTION} (production; GETT_ENVIRONMENT=production)"),
        ([], {"GETT_ENVIRONMENT": "sandbox"}, f"{SANDBOX} (sandbox; GETT_ENVIRONMENT=sandbox)"),
    ],
    ids=["nothing", "sandbox-flag", "live", "env-production", "env-sandbox"],
)
async def test_the_target_line_names_gett_hosts(
    flags: list[str], environ: dict[str, str], target: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("GETT_API_KEY", "zpka_test_secret_never_printed")
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert await _cli("send", "../../admin", "--status", "confirmed", *flags) == EXIT_REFUSED
    captured = capsys.readouterr()
    assert _target_then_error(captured.err, target).startswith("gett-async: error: order_id: ")
    assert "zpka_test_secret_never_printed" not in captured.err + captured.out

    source = _events(tmp_path / "events.jsonl", {"orderId": "../../admin", "status": "confirmed"}, "not JSON")
    assert await _cli("replay", str(source), "--no-progress", *flags) == EXIT_REFUSED
    captured = capsys.readouterr()
    # Without --out, the reasons of what was not ok follow the target line.
    assert captured.err.splitlines() == [
        f"gett-async: target {target}",
        "gett-async: line 1: refused: orderId: must be a UUID as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx "
        "(ASCII hex digits only), got '../../admin'",
        "gett-async: line 2: refused: not JSON (Expecting value: line 1 column 1 (char 0))",
    ]
    assert captured.out == "sent=0 refused=2 failed=0 superseded=0\n"


@pytest.mark.parametrize(
    ("flags", "environ", "words"),
    [
        (["--live"], {"GETT_ENVIRONMENT": "sandbox"}, "--live: conflicts with GETT_ENVIRONMENT=sandbox"),
        (["--live"], {"GETT_BASE_URL": "{url}"}, "--live: conflicts with GETT_BASE_URL"),
        ([], {"GETT_BASE_URL": "{url}", "GETT_ENVIRONMENT": "prod"}, "GETT_ENVIRONMENT: must be production or sandbox"),
        (["--base-url", "{url}"], {"GETT_ENVIRONMENT": "staging"}, "GETT_ENVIRONMENT: must be"),
        ([], {"GETT_BASE_URL": "http://example.com"}, "base_url: plain http://"),
    ],
    ids=["live-vs-env-sandbox", "live-vs-base-url", "unknown-env", "unknown-env-with-flag", "bad-env-base-url"],
)
async def test_target_conflicts_are_usage_errors(
    flags: list[str], environ: dict[str, str], words: str, keyed: GettEmulator,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in environ.items():
        monkeypatch.setenv(name, value.format(url=keyed.url))
    flags = [flag.format(url=keyed.url) for flag in flags]
    order_id = keyed.create_order()
    assert await _cli("send", order_id, "--status", "confirmed", *flags) == EXIT_USAGE
    assert _one_error_line(capsys.readouterr().err).startswith(f"gett-async: error: {words}")
    source = _events(tmp_path / "events.jsonl", {"orderId": order_id, "status": "confirmed"})
    assert await _cli("replay", str(source), *flags) == EXIT_USAGE
    captured = capsys.readouterr()
    assert _one_error_line(captured.err).startswith(f"gett-async: error: {words}")
    assert captured.out == ""
    assert keyed.requests == []


# -- exit codes ----------------------------------------------------------------------------------------


def _api_error(status: int) -> APIError:
    return error_class_for(status)("refused", status=status)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("--eta: bad"), EXIT_USAGE),
        (FileNotFoundError("events.jsonl"), EXIT_USAGE),
        (EventSourceError(OSError("Input/output error"), 3), EXIT_USAGE),
        (GettValidationError("order_id", "must be a UUID"), EXIT_REFUSED),
        (IllegalTransitionError("ready", "confirmed", (), "backward"), EXIT_REFUSED),
        (GettError("the update was cancelled before it was answered"), EXIT_REFUSED),
        *((_api_error(status), EXIT_REFUSED) for status in (400, 404, 409, 410, 422)),
        *((_api_error(status), EXIT_UNREACHABLE) for status in (401, 403, 429, 500, 502, 503, 504, 599)),
        (APIConnectionError("connection refused", attempts=4), EXIT_UNREACHABLE),
        (APITimeoutError("timed out", attempts=4), EXIT_UNREACHABLE),
    ],
    ids=repr,
)
def test_exit_code_for(error: BaseException, code: int) -> None:
    assert exit_code_for(error) == code


def test_exit_codes_are_distinct_and_ordered_by_severity() -> None:
    codes = [code for code, _ in EXIT_CODES]
    assert codes == sorted(set(codes)) == [EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED]
    assert (EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_INTERRUPTED) == (0, 1, 2, 3, 130)


# -- send ---------------------------------------------------------------------------------------------


async def test_send_applies_the_update(keyed: GettEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    order_id = keyed.create_order()
    assert await _cli("send", order_id, "--status", "confirmed", "--eta", "+15m", "--base-url", keyed.url) == 0
    assert capsys.readouterr().out == "sent: HTTP 204 after 1 attempt(s)\n"
    order = keyed.order(order_id)
    assert order.position == "confirmed"
    assert [u.position for u in order.history] == ["confirmed"]
    assert order.estimated_ready_at is not None

    assert await _cli("send", order_id, "--cancel", "Out of stock", "--base-url", keyed.url) == 0
    assert capsys.readouterr().out == "sent: HTTP 204 after 1 attempt(s)\n"
    order = keyed.order(order_id)
    assert (order.position, order.cancel_reason) == ("cancelled", "Out of stock")
    assert len(keyed.requests) == 2


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["send", "../../admin", "--status", "confirmed"], "order_id"),
        (["send", ORDER, "--status", "cooking"], "status"),
        (["send", ORDER, "--status", "pending"], "status"),
        (["send", ORDER, "--cancel", "   "], "cancel_reason"),
    ],
    ids=["bad-id", "unknown-status", "pending", "blank-reason"],
)
async def test_send_local_refusals_exit_1(
    keyed: GettEmulator, capsys: pytest.CaptureFixture[str], argv: list[str], field: str
) -> None:
    """Refused before the wire, exactly as the same event in a replay: exit 1, like a refusal by Gett."""
    assert await _cli(*argv, "--base-url", keyed.url) == EXIT_REFUSED
    captured = capsys.readouterr()
    line = _target_then_error(captured.err, f"{keyed.url} (--base-url)")
    assert line.startswith(f"gett-async: error: {field}: ")
    assert captured.out == ""
    assert len(keyed.requests) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["send", ORDER, "--status", "confirmed", "--eta", "tomorrow"],
        ["send", ORDER, "--status", "confirmed", "--eta", "2030-01-01T12:00:00"],
        ["send", ORDER, "--complete", "--eta", "+15m"],
        ["send", ORDER, "--cancel", "Closed", "--eta", "+15m"],
    ],
    ids=["eta-word", "eta-naive", "eta-on-complete", "eta-on-cancel"],
)
async def test_send_bad_eta_is_a_usage_error(
    keyed: GettEmulator, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert await _cli(*argv, "--base-url", keyed.url) == EXIT_USAGE
    captured = capsys.readouterr()
    assert _one_error_line(captured.err).startswith("gett-async: error: --eta: ")
    assert captured.out == ""
    assert len(keyed.requests) == 0


@pytest.mark.parametrize("command", ["send", "replay"])
def test_missing_key_is_one_line(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _events(tmp_path / "events.jsonl", {"orderId": ORDER, "status": "confirmed"})
    args = [ORDER, "--status", "confirmed"] if command == "send" else [str(source)]
    assert main([command, *args, "--base-url", "http://127.0.0.1:9"]) == EXIT_USAGE
    line = _one_error_line(capsys.readouterr().err)
    assert "GETT_API_KEY" in line and "is not set" in line


def test_bad_base_url_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GETT_API_KEY", "zpka_test_x")
    for base_url in ("http://example.com", "http://[::1", "ftp://127.0.0.1"):
        assert main(["send", ORDER, "--status", "confirmed", "--base-url", base_url]) == EXIT_USAGE
        assert "base_url" in _one_error_line(capsys.readouterr().err)


def test_malformed_key_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GETT_API_KEY", "zpka_test_pasted with a space")
    assert main(["send", ORDER, "--status", "confirmed", "--base-url", "http://127.0.0.1:9"]) == EXIT_USAGE
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("gett-async: error: api_key: ") and "pasted" not in line


async def test_send_refused_by_gett_exits_1(keyed: GettEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    target = f"{keyed.url} (--base-url)"
    # An unknown order: 404, not retried.
    assert await _cli("send", ORDER, "--status", "confirmed", "--base-url", keyed.url) == EXIT_REFUSED
    assert "404" in _target_then_error(capsys.readouterr().err, target)
    assert len(keyed.requests) == 1
    # A backward move the CLI cannot see (it does not know the order's state): 409 from Gett.
    order_id = keyed.create_order()
    assert await _cli("send", order_id, "--status", "ready", "--base-url", keyed.url) == EXIT_OK
    capsys.readouterr()
    assert await _cli("send", order_id, "--status", "confirmed", "--base-url", keyed.url) == EXIT_REFUSED
    assert "409" in _target_then_error(capsys.readouterr().err, target)
    assert keyed.order(order_id).position == "ready"


async def test_send_failing_after_retries_exits_3(keyed: GettEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    order_id = keyed.create_order()
    # Every attempt fails: 1 + 3 retries (the CLI's default), then exit 3.
    keyed.set_faults(ALWAYS_503, seed=1)
    assert await _cli("send", order_id, "--status", "confirmed", "--base-url", keyed.url) == EXIT_UNREACHABLE
    line = _target_then_error(capsys.readouterr().err, f"{keyed.url} (--base-url)")
    assert "503" in line and "after 4 attempts" in line
    assert len(keyed.requests) == 4
    # A 429 asking for a longer wait than the client will sleep: fails at once, also 3.
    keyed.set_faults(LONG_429, seed=1)
    keyed.reset_records()
    assert await _cli("send", order_id, "--status", "confirmed", "--base-url", keyed.url) == EXIT_UNREACHABLE
    assert "429" in _target_then_error(capsys.readouterr().err, f"{keyed.url} (--base-url)")
    assert len(keyed.requests) == 1
    assert keyed.order(order_id).history == ()


async def test_a_rejected_key_exits_3(
    keyed: GettEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GETT_API_KEY", "zpka_test_from_the_other_environment")
    order_id = keyed.create_order()
    assert await _cli("send", order_id, "--status", "confirmed", "--base-url", keyed.url) == EXIT_UNREACHABLE
    captured = capsys.readouterr()
    assert "401" in _target_then_error(captured.err, f"{keyed.url} (--base-url)")
    assert "zpka_test_from_the_other_environment" not in captured.err + captured.out

    source = _events(
        tmp_path / "events.jsonl",
        {"orderId": order_id, "status": "confirmed"},
        {"orderId": order_id, "status": "pending"},  # refused: pending is never sent
        "not JSON",
    )
    out = tmp_path / "outcomes.jsonl"
    code = await _cli("replay", str(source), "--out", str(out), "--base-url", keyed.url, "--no-progress")
    assert code == EXIT_UNREACHABLE  # the refusals (1) do not lower the rejected key's 3
    captured = capsys.readouterr()
    assert captured.out == "sent=0 refused=2 failed=0 superseded=0 aborted=1\n"
    assert "401" in _target_then_error(captured.err, f"{keyed.url} (--base-url)")  # stopped early: why
    assert "zpka_test_from_the_other_environment" not in captured.err + captured.out + out.read_text()
    records = {r["line"]: r for r in _records(out)}
    assert [records[n]["kind"] for n in (1, 2, 3)] == ["aborted", "refused", "refused"]
    assert "401" in records[1]["error"]
    assert keyed.order(order_id).history == ()


async def test_no_answer_at_all_exits_3(tmp_path: Path) -> None:
    """Connection refused on every attempt, for send and replay at once (their retry waits overlap)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: every connection is refused
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        source = _events(tmp_path / "events.jsonl", {"orderId": ORDER, "status": "confirmed"})
        env = _env(GETT_API_KEY="zpka_test_x", GETT_BASE_URL=url)
        (send_code, send_out, send_err), (replay_code, replay_out, replay_err) = await asyncio.gather(
            _run("send", ORDER, "--status", "confirmed", env=env),
            _run("replay", str(source), "--no-progress", "--connection-failures", "1", env=env),
        )
    assert (send_code, send_out) == (EXIT_UNREACHABLE, "")
    assert "after 4 attempts" in _target_then_error(send_err, f"{url} (GETT_BASE_URL)")
    assert (replay_code, replay_out) == (EXIT_UNREACHABLE, "sent=0 refused=0 failed=0 superseded=0 aborted=1\n")
    target, reason, why = replay_err.splitlines()
    assert target == f"gett-async: target {url} (GETT_BASE_URL)"
    assert reason.startswith("gett-async: line 1: aborted: not sent: 1 connection failures in a row")
    assert why.startswith("gett-async: error: stopped early: not sent: 1 connection failures in a row")


@pytest.mark.parametrize("command", ["send", "replay"])
async def test_ctrl_c_exits_130(command: str, tmp_path: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections complete in the backlog, and nobody ever answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        source = _events(tmp_path / "events.jsonl", {"orderId": ORDER, "status": "confirmed"})
        args = [ORDER, "--status", "confirmed"] if command == "send" else [str(source), "--no-progress"]
        held: list[socket.socket] = []
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gett_async", command, *args, "--base-url", url,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=_env(GETT_API_KEY="zpka_test_x"),
        )  # fmt: skip
        assert proc.stderr is not None
        try:
            # The target line comes from inside the running command: from here on Ctrl-C is its to handle.
            first = await asyncio.wait_for(proc.stderr.readline(), timeout=30)
            assert first.decode() == f"gett-async: target {url} (--base-url)\n"
            if command == "replay":  # the update is in flight once its connection arrives
                silent.setblocking(False)
                accepted, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(silent), timeout=30)
                held.append(accepted)  # open and silent: the request waits for an answer
            proc.send_signal(signal.SIGINT)
            if command == "replay":
                # The first Ctrl-C drains: the update in flight may finish; the second cancels it.
                stopping = await asyncio.wait_for(proc.stderr.readline(), timeout=30)
                assert stopping.decode().startswith("gett-async: stopping: 1 update(s) in flight finish first")
                proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        finally:
            for connection in held:
                connection.close()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == EXIT_INTERRUPTED
    # replay still prints its summary: the cancelled update has no final outcome (a resume sends it)
    assert out == (b"" if command == "send" else b"sent=0 refused=0 failed=0 superseded=0 aborted=1\n")
    # On Python 3.10 the interrupt may land in replay's input reader, which the stream logs first.
    assert err.decode().endswith("gett-async: interrupted\n") and b"Traceback" not in err


async def test_send_as_a_subprocess(emu: GettEmulator) -> None:
    order_id = emu.create_order()
    env = _env(GETT_API_KEY=emu.api_key)
    target = f"{emu.url} (--base-url)"
    code, out, err = await _run("send", "../../admin", "--status", "confirmed", "--base-url", emu.url, env=env)
    assert code == EXIT_REFUSED
    assert _target_then_error(err, target).startswith("gett-async: error: order_id: ")
    assert out == ""
    code, out, err = await _run("send", order_id, "--status", "confirmed", "--base-url", emu.url, env=_env())
    assert code == EXIT_USAGE
    assert "GETT_API_KEY" in _one_error_line(err)
    assert len(emu.requests) == 0
    code, out, err = await _run("send", order_id, "--status", "preparing", "--base-url", emu.url, env=env)
    assert (code, out, err) == (EXIT_OK, "sent: HTTP 204 after 1 attempt(s)\n", f"gett-async: target {target}\n")
    assert emu.order(order_id).position == "preparing"
    assert emu.api_key not in out + err


# -- replay -------------------------------------------------------------------------------------------


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_replay_mixed_file(keyed: GettEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = keyed.create_order(), keyed.create_order()
    lines = [
        json.dumps({"orderId": a, "status": "confirmed", "estimatedReadyAt": "2030-01-01T12:00:00Z"}),  # 1 sent
        "this is not JSON",  # 2 refused
        json.dumps([{"orderId": a, "status": "preparing"}]),  # 3 refused: an array
        json.dumps({"orderId": a, "status": "preparing"}),  # 4 sent
        "",  # 5 blank: skipped, no record
        json.dumps({"orderId": a, "status": "confirmed"}),  # 6 refused: backward
        json.dumps({"orderId": b, "status": "ready", "note": "x"}),  # 7 refused: unknown key
        json.dumps({"orderId": b, "state": "cancelled", "cancelReason": "Closed early"}),  # 8 sent
        "   ",  # 9 blank
        json.dumps({"orderId": a, "status": "ready"}),  # 10 sent
    ]
    source, out = tmp_path / "events.jsonl", tmp_path / "outcomes.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = await _cli("replay", str(source), "--out", str(out), "--base-url", keyed.url, "--no-progress")
    assert code == 1
    assert capsys.readouterr().out == "sent=4 refused=4 failed=0 superseded=0\n"

    records = {r["line"]: r for r in _records(out)}
    assert len(records) == len(_records(out)) == 8
    assert sorted(records) == [n for n, text in enumerate(lines, start=1) if text.strip()]
    sent, refused = {1, 4, 8, 10}, {2, 3, 6, 7}
    for number, record in records.items():
        assert set(record) >= {"line", "orderId", "kind"}
        assert record["kind"] == ("sent" if number in sent else "refused")
        assert ("error" in record) == (number in refused)
    assert records[2]["orderId"] is None and "not JSON" in records[2]["error"]
    assert records[3]["orderId"] is None and "not a JSON object" in records[3]["error"]
    assert records[6]["orderId"] == a and "cannot go from preparing to confirmed" in records[6]["error"]
    assert records[7]["orderId"] == b and "unknown field(s) note" in records[7]["error"]
    assert [u.position for u in keyed.order(a).history] == ["confirmed", "preparing", "ready"]
    assert [u.position for u in keyed.order(b).history] == ["cancelled"]
    assert keyed.stats.illegal_transitions == 0
    assert len(keyed.requests) == 4


async def test_replay_all_sent_exits_0(keyed: GettEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    orders = [keyed.create_order() for _ in range(5)]
    lines = [
        json.dumps({"orderId": oid, "status": status})
        for status in ("confirmed", "ready")
        for oid in orders  # interleaved: each order still keeps its own order
    ] + [json.dumps({"orderId": oid, "state": "completed"}) for oid in orders]
    source, out = tmp_path / "events.jsonl", tmp_path / "outcomes.jsonl"
    source.write_text("\n".join(lines), encoding="utf-8")  # no trailing newline
    code = await _cli("replay", str(source), "--out", str(out), "--base-url", keyed.url, "--no-progress")
    assert code == 0
    assert capsys.readouterr().out == "sent=15 refused=0 failed=0 superseded=0\n"
    records = _records(out)
    assert sorted(r["line"] for r in records) == list(range(1, 16))
    assert all(r["kind"] == "sent" and "error" not in r for r in records)
    assert all([u.position for u in keyed.order(oid).history] == ["confirmed", "ready", "completed"] for oid in orders)


async def test_replay_refused_by_gett_exits_1(
    keyed: GettEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known = keyed.create_order()
    source = _events(
        tmp_path / "events.jsonl",
        {"orderId": ORDER, "status": "confirmed"},  # Gett knows no such order: 404, a failed outcome
        {"orderId": known, "status": "confirmed"},
    )
    out = tmp_path / "outcomes.jsonl"
    code = await _cli("replay", str(source), "--out", str(out), "--base-url", keyed.url, "--no-progress")
    assert code == EXIT_REFUSED
    captured = capsys.readouterr()
    assert captured.out == "sent=1 refused=0 failed=1 superseded=0\n"
    assert captured.err == f"gett-async: target {keyed.url} (--base-url)\n"
    records = {r["line"]: r for r in _records(out)}
    assert records[1]["kind"] == "failed" and "404" in records[1]["error"]
    assert records[2]["kind"] == "sent"
    assert keyed.order(known).position == "confirmed"


async def test_replay_failure_after_retries_exits_3(
    keyed: GettEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = keyed.create_order(), keyed.create_order()
    keyed.set_faults(ALWAYS_503, seed=1)
    lines = [
        json.dumps({"orderId": a, "status": "confirmed"}),
        json.dumps({"orderId": b, "status": "pending"}),  # refused, yet the failure decides the code
        json.dumps({"orderId": a, "status": "preparing"}),  # blocked behind line 1: not sent
    ]
    source, out = tmp_path / "events.jsonl", tmp_path / "outcomes.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = await _cli("replay", str(source), "--out", str(out), "--base-url", keyed.url, "--no-progress")
    assert code == EXIT_UNREACHABLE
    assert capsys.readouterr().out == "sent=0 refused=1 failed=1 superseded=0 blocked=1\n"
    records = {r["line"]: r for r in _records(out)}
    assert [records[n]["kind"] for n in (1, 2, 3)] == ["failed", "refused", "blocked"]
    assert records[1]["attempts"] == 4 and "503" in records[1]["error"]
    assert "event 1 " in records[3]["error"] and "attempts" not in records[3]
    assert len(keyed.requests) == 4
    assert keyed.order(a).history == ()


async def test_replay_reads_stdin_in_a_subprocess(emu: GettEmulator) -> None:
    order_id = emu.create_order()
    text = "\n".join(
        json.dumps({"orderId": order_id, **fields})
        for fields in ({"status": "confirmed"}, {"status": "inTransit"}, {"state": "completed"})
    )
    env = _env(GETT_API_KEY=emu.api_key)
    # A BOM, as some editors write, does not spoil the first line.
    stdin = b"\xef\xbb\xbf" + text.encode() + b"\n"
    code, out, err = await _run("replay", "-", "--base-url", emu.url, "--no-progress", env=env, stdin=stdin)
    assert (code, out) == (EXIT_OK, "sent=3 refused=0 failed=0 superseded=0\n")
    assert err == f"gett-async: target {emu.url} (--base-url)\n"
    assert [u.position for u in emu.order(order_id).history] == ["confirmed", "inTransit", "completed"]


async def test_replay_unreadable_files_are_one_line(
    keyed: GettEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _cli("replay", str(tmp_path / "missing.jsonl"), "--base-url", keyed.url) == EXIT_USAGE
    assert "missing.jsonl" in _one_error_line(capsys.readouterr().err)
    source = tmp_path / "events.jsonl"
    source.write_text(json.dumps({"orderId": ORDER, "status": "confirmed"}) + "\n", encoding="utf-8")
    out = tmp_path / "no-such-dir" / "outcomes.jsonl"
    assert await _cli("replay", str(source), "--out", str(out), "--base-url", keyed.url) == EXIT_USAGE
    assert "no-such-dir" in _one_error_line(capsys.readouterr().err)
    assert len(keyed.requests) == 0


async def test_replay_input_that_breaks_off_exits_2(
    keyed: GettEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An input that fails mid-way (an I/O error) must not end as a quiet success, nor as a mere refusal."""
    order_id = keyed.create_order()

    class BreaksOff:
        """Standard input that gives two lines, then fails as a broken device or pipe would."""

        lines = [b"not JSON\n", json.dumps({"orderId": order_id, "status": "confirmed"}).encode() + b"\n"]

        def fileno(self) -> int:
            raise io.UnsupportedOperation("fileno")  # as io.BytesIO says: not a file on disk

        def readline(self) -> bytes:
            if self.lines:
                return self.lines.pop(0)
            raise OSError("Input/output error")

    monkeypatch.setattr(sys, "stdin", BreaksOff())
    out = tmp_path / "outcomes.jsonl"
    assert await _cli("replay", "-", "--out", str(out), "--base-url", keyed.url, "--no-progress") == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == "sent=1 refused=1 failed=0 superseded=0\n"
    assert "Input/output error" in _target_then_error(captured.err, f"{keyed.url} (--base-url)")
    assert keyed.order(order_id).position == "confirmed"


# -- emulator -----------------------------------------------------------------------------------------


async def test_emulator_subcommand_prints_url_and_key() -> None:
    # Without PYTHONUNBUFFERED: the lines must reach a pipe at once, not at exit.
    env = _env(PYTHONUNBUFFERED=None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gett_async", "emulator", "--port", "0", "--stores", "2",
        "--onboarding-step-seconds", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first, second, *stores = [
            (await asyncio.wait_for(proc.stdout.readline(), timeout=30)).decode() for _ in range(4)
        ]
        url = re.fullmatch(r"Gett Commerce API emulator listening on (http://127\.0\.0\.1:\d+)\n", first)
        key = re.fullmatch(r"API key: (zpka_test_[0-9a-f]{32})\n", second)
        assert url and key, (first, second)
        assert not url.group(1).endswith(":0")
        seeded = [re.fullmatch(r"Store: ([0-9a-f-]{36}) \((Store \d), online\)\n", line) for line in stores]
        assert all(seeded), stores
        async with GettClient(api_key=key.group(1), base_url=url.group(1)) as gett:
            listed = await gett.stores.list()
            assert [(s.store_id, s.name) for s in listed] == [m.groups() for m in seeded if m]
            receipt = await gett.orders.update_status(ORDER, status="confirmed")  # auto-created order
            assert receipt.status == 204
            onboarding = await gett.onboarding.register(
                partner_store_id="p-1", name="New", catalog_callback_url="https://c.example/c.json",
                webhook_url="https://pos.example/gett",
            )
            assert onboarding.status == "pending_catalog"  # the answer to the register itself
            assert onboarding.onboarding_id is not None
            ready = await gett.onboarding.wait_until_ready(onboarding.onboarding_id, interval=60)
            assert ready.status == "ready_to_activate"  # at the first read: no poll waited
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
        assert proc.stderr is not None
        err = (await proc.stderr.read()).decode()
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("flag", "value"), [("--stores", "-1"), ("--onboarding-step-seconds", "-1"), ("--onboarding-step-seconds", "nan")]
)
def test_emulator_seed_flags_refuse_bad_values(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["emulator", flag, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_emulator_port_out_of_range_is_a_one_line_error(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["emulator", "--port", port])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--port" in err and "Traceback" not in err


# -- replay --state: resume, binding, lock -------------------------------------------------------


@pytest.mark.parametrize("state_name", ["state.db", "state.jsonl"])
async def test_replay_with_state_resumes_and_a_finished_run_sends_nothing(
    keyed: GettEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], state_name: str
) -> None:
    a, b = keyed.create_order(), keyed.create_order()
    source = _events(
        tmp_path / "events.jsonl",
        {"orderId": a, "status": "confirmed"},
        {"orderId": b, "status": "confirmed"},
        "not JSON",
        {"orderId": a, "status": "ready"},
        {"orderId": b, "status": "pending"},
    )
    state, out = tmp_path / state_name, tmp_path / "outcomes.jsonl"
    args = ["replay", str(source), "--state", str(state), "--out", str(out), "--base-url", keyed.url, "--no-progress"]
    assert await _cli(*args) == EXIT_REFUSED
    assert capsys.readouterr().out == "sent=3 refused=2 failed=0 superseded=0\n"
    first = _records(out)
    assert [(r["line"], r["kind"]) for r in first] == [
        (1, "sent"), (2, "sent"), (3, "refused"), (4, "sent"), (5, "refused")
    ]
    requests = len(keyed.requests)

    assert await _cli(*args) == EXIT_REFUSED  # what earlier runs left to fix still decides the code
    assert capsys.readouterr().out == "sent=0 refused=0 failed=0 superseded=0 skipped=5\n"
    assert len(keyed.requests) == requests and _records(out) == first  # nothing sent; --out from the state

    source.write_text(source.read_text() + json.dumps({"orderId": a, "state": "completed"}) + "\n")
    assert await _cli(*args) == EXIT_USAGE  # another input: refused, nothing sent
    assert "was made for another input" in capsys.readouterr().err
    assert len(keyed.requests) == requests


async def test_replay_state_is_refused_while_another_run_holds_it(
    keyed: GettEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gett_async.checkpoints import SqliteCheckpoint

    source = _events(tmp_path / "events.jsonl", {"orderId": keyed.create_order(), "status": "confirmed"})
    with SqliteCheckpoint(tmp_path / "state.db"):  # another run's hold on it
        code = await _cli("replay", str(source), "--state", str(tmp_path / "state.db"), "--base-url", keyed.url)
    assert code == EXIT_USAGE and "in use by another run" in capsys.readouterr().err
    assert keyed.requests == []
    assert await _cli("replay", "-", "--state", str(tmp_path / "state.db"), "--base-url", keyed.url) == EXIT_USAGE
    assert "needs a FILE, not standard input" in capsys.readouterr().err
    assert await _cli("replay", str(source), "--retry-failed", "--base-url", keyed.url) == EXIT_USAGE
    assert "--retry-failed: goes with --state" in capsys.readouterr().err


async def test_replay_retry_failed_sends_the_failed_line_then_the_ones_it_blocked(
    keyed: GettEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = keyed.create_order()
    source = _events(
        tmp_path / "events.jsonl", *({"orderId": a, "status": s} for s in ("confirmed", "preparing", "ready"))
    )
    args = ["replay", str(source), "--state", str(tmp_path / "state.db"), "--base-url", keyed.url, "--no-progress"]
    keyed.set_faults(ALWAYS_503, seed=1)
    assert await _cli(*args) == EXIT_UNREACHABLE
    captured = capsys.readouterr()
    assert captured.out == "sent=0 refused=0 failed=1 superseded=0 blocked=2\n"
    assert "gett-async: line 2: blocked: not sent: event 1 of order" in captured.err  # no --out: reasons here
    keyed.set_faults(None)
    assert await _cli(*args) == EXIT_REFUSED  # a plain resume leaves failed and blocked lines alone
    assert capsys.readouterr().out == "sent=0 refused=0 failed=0 superseded=0 skipped=3\n"
    assert await _cli(*args, "--retry-failed") == EXIT_OK
    assert capsys.readouterr().out == "sent=3 refused=0 failed=0 superseded=0\n"
    assert [u.position for u in keyed.order(a).history] == ["confirmed", "preparing", "ready"]


async def test_sigterm_drains_records_and_a_resume_finishes(tmp_path: Path) -> None:
    async with GettEmulator(faults=FaultConfig(latency=0.02), writes_per_window=0) as emu:
        orders = [emu.create_order() for _ in range(40)]
        source = _events(tmp_path / "events.jsonl", *({"orderId": o, "status": "confirmed"} for o in orders))
        argv = [sys.executable, "-m", "gett_async", "replay", str(source), "--state", str(tmp_path / "state.db"),
                "--base-url", emu.url, "--no-progress", "--concurrency", "2"]
        env = _env(GETT_API_KEY=emu.api_key)
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        while emu.stats.applied_updates < 3 and proc.returncode is None:  # noqa: ASYNC110 (polls progress)
            await asyncio.sleep(0.005)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = await proc.communicate()
        assert proc.returncode == EXIT_INTERRUPTED, err
        assert b"gett-async: stopping:" in err and err.endswith(b"gett-async: interrupted\n")
        sent = int(re.search(rb"sent=(\d+)", out).group(1))  # type: ignore[union-attr]
        assert sent == emu.stats.applied_updates  # the drained requests finished and were counted
        code, resumed, _ = await _run(*argv[3:], env=env)
        assert code == EXIT_OK and f"skipped={sent}" in resumed
        assert emu.stats.applied_updates == len(orders) and emu.stats.idempotent_repeats == 0
