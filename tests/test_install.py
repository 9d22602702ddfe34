"""The README's install instructions work: the wheel built from a checkout installs into a
fresh virtualenv, without the dev extras, and `gett-async demo` runs from there.

The wheel is built without build isolation (the dev environment has the backend), from a
copy of the sources; the runtime dependencies come from the package index through pip
(its cache makes a rerun quick)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GETT_", "PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


def test_the_wheel_installs_into_a_fresh_virtualenv_and_runs_the_demo(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "gett_async", source / "gett_async", ignore=shutil.ignore_patterns("__pycache__"))

    built = run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp_path / "dist", source)
    assert "project.license" not in built.stdout + built.stderr  # the SPDX string: no deprecation warning
    [wheel] = (tmp_path / "dist").glob("gett_async-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert {"gett_async/py.typed", "gett_async/_core/wire.py", "gett_async/_http/telemetry.py",
            "gett_async/testing/emulator.py"} <= names
    assert "License-Expression: MIT" in metadata

    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / ("Scripts" if os.name == "nt" else "bin") / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--disable-pip-version-check", "-q", wheel)

    listed = run(sys.executable, "-m", "pip", "--python", python, "list", "--format=freeze").stdout
    installed = {line.split("==")[0].lower() for line in listed.split()}
    assert {"gett-async", "aiohttp", "attrs", "cattrs", "backoff"} <= installed
    assert not {"pytest", "rich", "opentelemetry-api", "mypy"} & installed  # no extras came along

    demo = run(python.parent / "gett-async", "demo", "--orders", "20", "--no-progress", cwd=tmp_path)
    assert "Traceback" not in demo.stderr
