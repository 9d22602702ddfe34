"""A real redis-server for the shared-gate tests: loopback only, a free port, a temp dir, no
persistence. Started and stopped by the ``redis_server`` fixture (tests/conftest.py); a test
may stop and start it again on the same port to play an outage."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path

READY = "Ready to accept connections"


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """One redis-server process bound to 127.0.0.1; `start` returns once it accepts clients."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[str] | None = None
        self._watcher: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> None:
        executable = redis_server_path()
        assert executable is not None, "redis-server is not installed"
        command = [
            executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "notice", "--logfile", "",
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "LC_ALL": "C"}
        )
        ready = threading.Event()
        seen: list[str] = []

        def watch(stream: Iterable[str]) -> None:
            for line in stream:  # read to the end, so the server never blocks on a full pipe
                seen.append(line)
                if READY in line:
                    ready.set()
            ready.set()  # the process ended: stop waiting

        self._watcher = threading.Thread(target=watch, args=(self.process.stdout,), daemon=True)
        self._watcher.start()
        if not ready.wait(timeout) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("redis-server did not start:\n" + "".join(seen[-20:]))

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if self._watcher is not None:
            self._watcher.join(timeout=10)  # the pipe ended with the process
            self._watcher = None
        if process.stdout is not None:
            process.stdout.close()
