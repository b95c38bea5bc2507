"""Warm check processes: each step's checks still run in a process of their own, forked from one that has
already imported pytest and the clients, instead of a fresh interpreter importing them again for every step.

A fresh `python -m pytest` spends ~0.3 s (idle machine) to ~0.6 s (loaded) importing before a check runs;
a fork of the warm server starts in a few milliseconds. Isolation is that of a fresh process: every
request is its own fork of the same server, which has run no check, opened no connection and holds no
configuration; the fork gets the caller's whole environment, working directory and argument list, and its
output, exit code and JUnit file are what `python -m pytest` gives.

The server imports libraries only. Never `checks.*` nor the plugins named with `-p`: pytest rewrites their
asserts as it imports them, in each fork. Never the Helm engine: its Go runtime starts threads, and a
process with threads must not fork (the server refuses to serve if it has more than one OS thread).

Anything unusual (the server cannot start, dies, answers nonsense, SEATRIAL_WARM_CHECKS=0) falls back to a
fresh `python -m pytest`, which is what an operator runs by hand.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# What a check process imports anyway. Each is optional: one missing only leaves it to the fork.
PRELOAD = ("pytest", "yaml", "requests", "urllib3", "kubernetes", "boto3", "botocore.session", "boto3.s3.inject",
           "boto3.s3.transfer",
           *(f"seatrial.runbook.{name}" for name in (
               "errors", "secrets", "config", "connections", "migration.journal", "clients.kube", "clients.s3",
               "clients.harbor", "clients.registry", "clients.velero", "clients.velero_layout", "clients.restic",
               "clients.kopia", "migration.inventory", "migration.volumes", "migration.steps", "upgrade.findings")))
# pytest marks `-p` and entry-point plugins for assert rewriting: imported here, they would warn in every fork.
NEVER_PRELOADED = ("seatrial.checks", "seatrial.runbook.checking.pytest_redact", "pytest_timeout", "pytest_kind",
                   "helm_python", "seatrial.runbook.clients.helm",
                   "seatrial.runbook.upgrade.step")
READY_TIMEOUT_S = 120.0
OFF = "SEATRIAL_WARM_CHECKS"


# -- the server (python -m seatrial.runbook.checking.warm_checks)
# ------------------------------------------------------------
def os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def preload() -> None:
    from _pytest.config import default_plugins

    for name in (*PRELOAD, *(f"_pytest.{plugin}" for plugin in default_plugins)):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def serve() -> int:
    # The protocol pipes leave fds 0 and 1, so that no fork inherits them as its stdin or stdout.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the running fork and the runner, not the server
    preload()
    threads = os_threads()
    _reply(replies, {"ready": threads == 1, "threads": threads})
    if threads != 1:
        return 1
    for line in requests:
        request = json.loads(line)
        code, out, err = _fork(request, requests.fileno(), replies.fileno())
        _reply(replies, {"returncode": code, "stdout": len(out), "stderr": len(err)}, out + err)
    return 0


def _reply(replies, header: dict, payload: bytes = b"") -> None:
    replies.write(json.dumps(header).encode() + b"\n" + payload)
    replies.flush()


def _fork(request: dict, *protocol_fds: int) -> tuple[int, bytes, bytes]:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the fork ends in os._exit; its behaviour is tested through its output
        code = 1
        try:  # whatever happens, the fork never returns into the server's loop
            for fd in (*protocol_fds, out_r, err_r):
                os.close(fd)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.close(out_w)
            os.close(err_w)
            code = _run_pytest(request)
        finally:
            os._exit(code)
    os.close(out_w)
    os.close(err_w)
    out, err = _read_both(out_r, err_r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out, err


def _run_pytest(request: dict) -> int:  # pragma: no cover - runs in the fork
    """In the fork: become `python -m pytest ARGS` started in the caller's directory and environment."""
    import traceback

    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[0] = request["cwd"]
    import pytest

    sys.argv = [str(Path(pytest.__file__).with_name("__main__.py")), *request["argv"]]
    try:
        code = int(pytest.main())  # its arguments from sys.argv, as `python -m pytest`
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    # What interpreter exit does: non-daemon threads joined, atexit handlers, streams flushed.
    try:
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
        getattr(atexit, "_run_exitfuncs", lambda: None)()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        traceback.print_exc()
    return code


def _read_both(out_r: int, err_r: int) -> tuple[bytes, bytes]:
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        open_fds = set(chunks)
        while open_fds:
            for key, _ in selector.select():
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
                    os.close(key.fd)
                    open_fds.discard(key.fd)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r])


# -- the client (seatrial.runbook.migration.runner)
# -----------------------------------------------------------------------------
def startup_key(cwd: str, env: dict[str, str]) -> tuple:
    """What acts when an interpreter starts (its sys.path, its loader): a server started under another one
    would not be the process `python -m pytest` starts now, so it is replaced."""
    return sys.executable, cwd, tuple(sorted((k, v) for k, v in env.items() if k.startswith(("PYTHON", "LD_"))))


class WarmServer:
    def __init__(self, key: tuple):
        self.key = key
        self.ready = False
        self.broken = False
        self.process = subprocess.Popen([sys.executable, "-m", "seatrial.runbook.checking.warm_checks"],
                                        stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=key[1])

    def _header(self, timeout: float | None = None) -> dict | None:
        assert self.process.stdout is not None
        if timeout is not None:
            with selectors.DefaultSelector() as selector:
                selector.register(self.process.stdout, selectors.EVENT_READ)
                if not selector.select(timeout):
                    return None
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    def run(self, argv: list[str], cwd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        assert self.process.stdin is not None and self.process.stdout is not None
        if not self.ready:  # it has preloaded while the first step ran
            header = self._header(READY_TIMEOUT_S)
            if not (header and header.get("ready")):
                raise OSError(f"the warm check server did not start (it said {header})")
            self.ready = True
        self.process.stdin.write(json.dumps({"argv": argv, "cwd": cwd, "env": env}).encode() + b"\n")
        self.process.stdin.flush()
        header = self._header()
        if header is None or "returncode" not in header:
            raise OSError(f"the warm check server ended without an answer (it said {header})")
        out = self.process.stdout.read(header["stdout"])
        err = self.process.stdout.read(header["stderr"])
        return subprocess.CompletedProcess(argv, header["returncode"], _text(out), _text(err))

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()  # the server ends at the end of its requests
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None and not stream.closed:
                stream.close()


def _text(data: bytes) -> str:
    return data.decode(errors="replace")


_lock = threading.Lock()
_server: WarmServer | None = None


@contextmanager
def warm_server() -> Iterator[None]:
    """Within this block, checks run in forks of one warm server, started now so that it imports while the
    first step works (`seatrial.runbook.migration.runner.run`: nine steps); it ends with the block. Off with
    SEATRIAL_WARM_CHECKS=0."""
    global _server
    if _server is not None or os.environ.get(OFF) == "0":
        yield
        return
    try:
        _server = WarmServer(startup_key(os.getcwd(), dict(os.environ)))
    except OSError:
        yield
        return
    try:
        yield
    finally:
        with _lock:
            _server.close()
            _server = None


def run_pytest(command: list[str]) -> subprocess.CompletedProcess[str]:
    """`subprocess.run(command)` for `command` = [sys.executable, "-m", "pytest", ...]: a fork of the warm server
    when one runs (inside `warm_server()`) and was started the way this interpreter would start now."""
    env, cwd = dict(os.environ), os.getcwd()
    with _lock:
        server = _server
        if (server is not None and not server.broken and env.get(OFF) != "0"
                and command[:3] == [sys.executable, "-m", "pytest"] and server.key == startup_key(cwd, env)):
            try:
                return server.run(command[3:], cwd, env)
            except (OSError, ValueError):
                server.broken = True  # a fresh interpreter from now on
                server.close()
    return subprocess.run(command, capture_output=True, text=True, check=False)


if __name__ == "__main__":
    sys.exit(serve())
