"""A fast local HTTP server answering 204 to every request, so the client is the bottleneck.

`local_server` starts nginx (``return 204;``) when an ``nginx`` binary exists, else the
minimal keep-alive server below, in its own process so that it never shares the client's
core or GIL. ``python -m benchmarks.server`` runs the Python server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

RESPONSE = b"HTTP/1.1 204 No Content\r\nServer: bench\r\n\r\n"


@attrs.frozen
class Server:
    url: str
    kind: str  # "nginx", "python" or "external"
    description: str
    pids: tuple[int, ...] = ()  # the server's processes (for pinning), none when external


def process_tree(pid: int) -> tuple[int, ...]:
    """``pid`` and its children (nginx's workers), from /proc; just ``pid`` elsewhere."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return (pid, *(int(child) for child in children))


def pin(server: Server) -> str:
    """Keep the client on one core and the server on the others, so neither steals the other's
    core and runs vary less; returns what was done, for the report."""
    if not hasattr(os, "sched_setaffinity") or not server.pids:
        return "not pinned"
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return "not pinned (one core)"
    for pid in server.pids:
        with contextlib.suppress(OSError):  # a worker may have exited
            os.sched_setaffinity(pid, cores[1:])
    os.sched_setaffinity(0, cores[:1])
    return f"client pinned to CPU {cores[0]}, server to CPU {','.join(map(str, cores[1:]))}"


@contextlib.contextmanager
def local_server(kind: str = "auto") -> Iterator[Server]:
    """Start the server (``auto``: nginx when installed, else Python); stop it on exit."""
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if kind == "nginx" and nginx is None:
        raise SystemExit("--server nginx: no nginx binary found")
    if kind in ("auto", "nginx") and nginx is not None:
        with _nginx(nginx) as server:
            yield server
    else:
        with _python() as server:
            yield server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on port {port}")


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ return 204; }}
    }}
}}
"""


@contextlib.contextmanager
def _nginx(binary: str) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="gett-bench-nginx-") as tmp:
        port = _free_port()
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
        version = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
        process = subprocess.Popen(
            [binary, "-p", tmp, "-c", str(conf), "-e", f"{tmp}/error.log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            _wait_listening(port, process, "nginx")
            yield Server(
                f"http://127.0.0.1:{port}", "nginx", f"{version.split(': ')[-1]}, 1 worker, return 204",
                process_tree(process.pid),
            )
        finally:
            _stop(process, signal.SIGQUIT)


@contextlib.contextmanager
def _python() -> Iterator[Server]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", "--port", str(port)],
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        _wait_listening(port, process, "the Python server")
        yield Server(
            f"http://127.0.0.1:{port}", "python", "asyncio.Protocol keep-alive server (own process), 204",
            (process.pid,),
        )
    finally:
        _stop(process)


class _Http(asyncio.Protocol):
    """HTTP/1.1 keep-alive: one 204 per request; requests framed by headers + Content-Length."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        answers = 0
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buffer[:end]).lower()
            if b"transfer-encoding:" in head:  # chunked bodies are not expected from the clients here
                assert self._transport is not None
                self._transport.close()
                return
            length = 0
            at = head.find(b"\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r", at + 16)
                length = int(head[at + 16 : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(buffer) < total:
                break
            del buffer[:total]
            answers += 1
        if answers:
            assert self._transport is not None
            self._transport.write(RESPONSE * answers)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Http, "127.0.0.1", port, backlog=4096, reuse_address=True)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    async with server:
        await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
