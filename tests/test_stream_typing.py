"""The stream's typed surface, as a user's ``mypy --strict`` sees it (mypy runs on a snippet)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mypy")

ROOT = Path(__file__).resolve().parent.parent

SNIPPET = textwrap.dedent(
    """
    from typing import Any

    from gett_async import GettClient, OrderEvent, UpdateOutcome


    async def main(gett: GettClient) -> None:
        gett.orders.stream([], concurency=32)
        mappings: list[dict[str, Any]] = [{"orderId": "x", "status": "confirmed"}]
        async for outcome in gett.orders.stream(mappings, concurrency=32, buffer=128):
            reveal_type(outcome.event)
        async for mine in gett.orders.stream([OrderEvent("x", status="confirmed")]):
            reveal_type(mine.event)
        summary = await gett.orders.send_all(mappings, keep=10, strict=True)
        reveal_type(summary.failures[0].event)
        bare: list[UpdateOutcome] = []  # a bare annotation stays valid (the type has a default)
        bare.append(mine)
        await gett.orders.update_status("x", status="cooking")
        await gett.orders.track("x").advance("pending")
    """
)


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("typing")
    (folder / "snippet.py").write_text(SNIPPET)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(folder / "cache"),
         "snippet.py"],
        cwd=folder, capture_output=True, text=True, timeout=300,
    )  # no MYPYPATH: dev.py installs the package the way a user's mypy resolves it
    return done.stdout + done.stderr


def _said(output: str, line: int, kind: str) -> list[str]:
    return [text for text in output.splitlines() if text.startswith(f"snippet.py:{line}: {kind}:")]


def _revealed(output: str, line: int) -> str:
    [note] = _said(output, line, "note")
    return re.sub(r"\bbuiltins\.", "", note.split("Revealed type is ", 1)[1])  # mypy versions differ here


def test_a_misspelt_option_is_a_type_error(mypy_output: str) -> None:
    [error] = _said(mypy_output, 8, "error")
    assert 'Unexpected keyword argument "concurency"' in error, mypy_output


def test_outcome_event_is_typed_as_what_the_caller_passed(mypy_output: str) -> None:
    assert _revealed(mypy_output, 11) == '"dict[str, Any]"', mypy_output
    assert _revealed(mypy_output, 13) == '"gett_async.orders.stream.events.OrderEvent"', mypy_output
    assert _revealed(mypy_output, 15) == '"dict[str, Any]"', mypy_output


def test_an_unknown_or_unsendable_status_is_a_type_error(mypy_output: str) -> None:
    [cooking] = _said(mypy_output, 18, "error")
    assert "Literal['cooking']" in cooking and "update_status" in cooking, mypy_output
    [pending] = _said(mypy_output, 19, "error")
    assert "Literal['pending']" in pending and "advance" in pending, mypy_output


def test_nothing_else_is_reported(mypy_output: str) -> None:
    errors = [line for line in mypy_output.splitlines() if ": error:" in line]
    assert len(errors) == 3, mypy_output  # the misspelt option and the two statuses, nothing else
