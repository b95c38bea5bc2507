"""What is still running of an environment that should be gone: `left_over(root)` is "" or one line per process
whose command line names `root` (pid, parent, command), for a failure message."""

from __future__ import annotations

import subprocess


def left_over(root) -> str:
    pids = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True, check=False).stdout.split()
    if not pids:
        return ""
    return subprocess.run(["ps", "-o", "pid,ppid,args", "-p", ",".join(pids)], capture_output=True, text=True,
                          check=False).stdout
