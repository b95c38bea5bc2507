"""Python heap peaks measured in processes of their own.

tracemalloc traces every thread of its process. The pytest process also runs the servers that tests and
session fixtures keep in threads (werkzeug reads 10 MB at once to drain each closed connection), so a peak
measured there depends on whatever else happens to run during the window. Here the measured code runs alone
in a child process: `run_probe` for a client that measures itself, `MeasuredServer` for a server whose
peaks the test reads between the client's phases.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MB = 1 << 20


def run_probe(what: str, script: str, args: dict, timeout: float = 300) -> dict:
    """Run `script` (Python that reads its JSON `args` from stdin and prints a JSON line last) in a child
    process; returns that JSON."""
    try:
        child = subprocess.run([sys.executable, "-c", script], input=json.dumps(args), capture_output=True,
                               text=True, cwd=ROOT, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{what} did not finish within {timeout:.0f}s; its stderr ends: "
                             f"{_text(exc.stderr)[-2000:]!r}") from None
    if child.returncode != 0 or not child.stdout.strip():
        raise AssertionError(f"{what} failed (exit code {child.returncode}); its stderr ends: {child.stderr[-2000:]}")
    return json.loads(child.stdout.splitlines()[-1])


def answer_heap_commands(ready: dict) -> None:
    """The child's side of `MeasuredServer`: print `ready`, then answer "trace" (start tracing) and "peak"
    (the peak since the last one, then a new window) until the parent closes stdin."""
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "trace":
            tracemalloc.start()
            reply: dict = {}
        elif command == "peak":
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            reply = {"peak": peak}
        else:
            reply = {"error": f"unknown command {command!r}"}
        print(json.dumps(reply), flush=True)


class MeasuredServer:
    """A server alone in a child process that reports its own heap peaks.

    `script` reads its JSON `args` from the first line of stdin, starts the server, then calls
    `answer_heap_commands({...what the test needs, e.g. the url})`. `.ready` is that dict.
    """

    def __init__(self, what: str, script: str, args: dict, *, log: Path, timeout: float = 120):
        self.what, self.timeout, self.log = what, timeout, Path(log)
        self._stderr = self.log.open("w")
        self._process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._stderr, text=True, cwd=ROOT)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.ready = self._ask(json.dumps(args), "to start")
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _ask(self, command: str, doing: str) -> dict:
        said = f"did not answer within {self.timeout:.0f}s"
        try:
            self._process.stdin.write(command + "\n")
            self._process.stdin.flush()
            line = self._lines.get(timeout=self.timeout)
        except (queue.Empty, BrokenPipeError):
            line = None
        if line is None:
            try:
                said = f"exited with code {self._process.wait(timeout=5)}"
            except subprocess.TimeoutExpired:
                pass
            raise AssertionError(f"{self.what} {said} when asked {doing}; its stderr ends: {self._stderr_tail()}")
        answer = json.loads(line)
        if "error" in answer:
            raise AssertionError(f"{self.what}: {answer['error']}")
        return answer

    def _stderr_tail(self) -> str:
        self._stderr.flush()
        return self.log.read_text(errors="replace")[-2000:] or "(nothing)"

    def trace(self) -> None:
        """Start tracing the server's allocations (after its warm-up, so imports are not counted)."""
        self._ask("trace", "to start tracing")

    def peak(self) -> int:
        """The server's heap peak in bytes since `trace` or the last `peak`."""
        return self._ask("peak", "with its heap peak")["peak"]

    def stop(self) -> None:
        if self._process.poll() is None:
            try:
                self._process.stdin.close()  # the child stops its server when its stdin ends
            except BrokenPipeError:
                pass
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._stderr.close()

    def __enter__(self) -> MeasuredServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""
