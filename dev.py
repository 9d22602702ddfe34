#!/usr/bin/env python3
"""One entry point for developers and CI; needs only Python 3.10+ on the machine.

    python3 dev.py demo     set up .venv if needed, then run `gett-async demo` (no credentials)
    python3 dev.py test     set up .venv if needed, then run the whole test suite
    python3 dev.py lint     ruff check + mypy --strict gett_async
    python3 dev.py bench    the benchmarks (see benchmarks/README.md)
    python3 dev.py bench --instructions   ... and instructions per update counted by valgrind

The virtualenv is created once and reused; it is reinstalled when pyproject.toml changes.
Extra arguments go to the tool (e.g. `python3 dev.py test -k stream`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".gett-async-installed"


def ensure_venv() -> None:
    """Create .venv and install the package with its dev extra, unless already current."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PYTHON.exists():
        print("dev.py: creating .venv", flush=True)
        try:
            venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(
                f"dev.py: could not create .venv ({exc}); on Debian/Ubuntu install python3-venv first"
            ) from None
    print("dev.py: installing gett-async[dev] into .venv", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    run([*pip, "--upgrade", "pip"])
    # compat: a plain path entry instead of an import hook, so mypy and pyright (which do not run
    # import hooks) resolve gett_async from any directory, as they will in a user's project.
    run([*pip, "-e", f"{ROOT}[dev]", "--config-settings", "editable_mode=compat"])
    STAMP.write_text(wanted)


def run(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(result.returncode)


def main(argv: list[str]) -> None:
    if sys.version_info < (3, 10):  # noqa: UP036 (dev.py may be run by an older python3)
        raise SystemExit(f"dev.py: gett-async needs Python 3.10 or newer, this is {sys.version.split()[0]}")
    if not argv or argv[0] not in {"demo", "test", "lint", "bench"}:
        raise SystemExit(__doc__)
    job, rest = argv[0], argv[1:]
    if job == "bench" and "--instructions" in rest and shutil.which("valgrind") is None:
        raise SystemExit(
            "dev.py: `bench --instructions` counts instructions with valgrind, which is not installed "
            "(Debian/Ubuntu: sudo apt-get install valgrind); run `python3 dev.py bench` without it for wall time"
        )
    ensure_venv()
    if job == "demo":
        run([str(PYTHON), "-m", "gett_async", "demo", *rest])
    elif job == "test":
        run([str(PYTHON), "-m", "pytest", *rest])
    elif job == "lint":
        run([str(PYTHON), "-m", "ruff", "check", "gett_async", "tests", "benchmarks", "examples", "dev.py"])
        run([str(PYTHON), "-m", "mypy", "--strict", "gett_async"])
    else:
        run([str(PYTHON), "-m", "benchmarks", *rest])


if __name__ == "__main__":
    main(sys.argv[1:])
