"""What a step works with: the configuration, its clients (seatrial.runbook.connections), the journal, and the operator.

`StepContext.say` prints progress for the operator (and, inside `ticking()`, a heartbeat line when nothing was said
for 10 s: seatrial.runbook.heartbeat); `confirm` asks before anything destructive (`--yes` answers for CI; without a
terminal and without `--yes` the answer is no).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from seatrial.runbook.config import Config
from seatrial.runbook.connections import Clients
from seatrial.runbook.heartbeat import Heartbeat
from seatrial.runbook.migration.journal import Journal
from seatrial.runbook.secrets import redact


@dataclass
class StepContext(Clients):
    config: Config
    yes: bool = False
    dry_run: bool = False
    keep_frozen: bool = False
    new_backup: bool = False  # --new-backup: take another Backup instead of adopting the last attempt's
    new_restore: bool = False  # --new-restore: the same for the Restore
    rollback_on_failure: bool = False  # the upgrade step's --rollback-on-failure (or upgrade.rollback_on_failure)
    out: Callable[[str], None] = field(default=lambda line: print(redact(line), flush=True))
    ask: Callable[[str], str] | None = None  # for tests; default: input() when stdin is a terminal

    def __post_init__(self) -> None:
        from seatrial.runbook import retry

        retry.set_reporter(self.say)  # the clients' retry notices join the step's progress lines
        self._saying = threading.Lock()  # the heartbeat speaks from its own thread
        self._heartbeat = Heartbeat(self.say)

    def say(self, line: str) -> None:
        with self._saying:
            self._heartbeat.said()
            self.out(line)

    @contextmanager
    def ticking(self) -> Iterator[None]:
        """Within the block, a line at least every 10 s, naming what is awaited when nothing else is said."""
        with self._heartbeat.running():
            yield

    def confirm(self, question: str) -> bool:
        if self.yes:
            self.say(f"{question} -- yes (--yes)")
            return True
        if self.ask is None and not sys.stdin.isatty():
            self.say(f"{question} -- no (no terminal to ask; pass --yes to confirm)")
            return False
        with self._heartbeat.quiet():
            answer = (self.ask or input)(f"{question} [y/N] ").strip().lower()
        return answer in ("y", "yes")

    @cached_property
    def journal(self) -> Journal:
        return Journal(self.config.run_dir)
