"""Periodic work of the serving process: a few named jobs, each run every ``interval`` seconds.

One daemon thread runs the jobs in turn (a job is short: it takes the locks it needs, like any request).
A job that raises is logged and runs again at its next time; nothing stops the loop but :meth:`Scheduler.stop`.
The web app starts the scheduler when it starts serving and stops it at shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """A named callable run every ``interval`` seconds."""

    name: str
    interval: float
    run: Callable[[], Any]


class Scheduler:
    """Runs its jobs on a daemon thread from :meth:`start` until :meth:`stop`."""

    def __init__(self, jobs: list[Job] | None = None) -> None:
        self.jobs: list[Job] = list(jobs or [])
        self.runs: dict[str, int] = {}  # job name -> completed runs (failures included): for checks and tests
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, job: Job) -> None:
        """Add a job (before :meth:`start`; a job added later starts with the next start)."""
        if job.interval <= 0:
            raise ValueError(f"job {job.name}: the interval must be positive, not {job.interval}")
        self.jobs.append(job)

    @property
    def running(self) -> bool:
        """Whether the scheduler's thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread; each job first runs one interval from now."""
        if self.running or not self.jobs:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(list(self.jobs),), name="smartcustoms-scheduler",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after the job it is running, if any (waits up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self, jobs: list[Job]) -> None:
        now = time.monotonic()
        due = [now + job.interval for job in jobs]
        while True:
            i = min(range(len(jobs)), key=due.__getitem__)
            if self._stop.wait(max(0.0, due[i] - time.monotonic())):
                return
            job = jobs[i]
            try:
                job.run()
            except Exception:  # noqa: BLE001 - a failing job must not end the others: logged, run again later
                log.exception("periodic job %s failed", job.name)
            self.runs[job.name] = self.runs.get(job.name, 0) + 1
            due[i] = max(due[i] + job.interval, time.monotonic())  # a late run does not make a burst
