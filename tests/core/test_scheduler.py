"""The serving process's periodic work: jobs run at their interval, a failing job never stops the others."""

from __future__ import annotations

import threading
import time

import pytest

from smartcustoms.core.scheduler import Job, Scheduler


def _wait_for(check, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return check()


def test_a_job_runs_again_and_again_at_its_interval_until_stopped():
    ran = threading.Event()
    count = []
    scheduler = Scheduler([Job("tick", 0.05, lambda: (count.append(1), ran.set()))])
    scheduler.start()
    try:
        assert ran.wait(2) and _wait_for(lambda: len(count) >= 3)
    finally:
        scheduler.stop()
    assert not scheduler.running
    after = len(count)
    time.sleep(0.2)
    assert len(count) == after  # nothing runs once stopped


def test_a_failing_job_is_logged_and_neither_it_nor_the_others_stop(caplog):
    ok = []

    def broken() -> None:
        raise RuntimeError("the database is busy")

    scheduler = Scheduler([Job("broken", 0.05, broken), Job("fine", 0.05, lambda: ok.append(1))])
    with caplog.at_level("ERROR", logger="smartcustoms.core.scheduler"):
        scheduler.start()
        try:
            assert _wait_for(lambda: scheduler.runs.get("broken", 0) >= 3 and len(ok) >= 3)
        finally:
            scheduler.stop()
    assert "periodic job broken failed" in caplog.text and "the database is busy" in caplog.text


def test_the_first_run_waits_one_interval_and_a_bad_interval_is_refused():
    ran = []
    scheduler = Scheduler([Job("slow", 30.0, lambda: ran.append(1))])
    scheduler.start()
    time.sleep(0.1)
    scheduler.stop()
    assert ran == []
    with pytest.raises(ValueError, match="positive"):
        Scheduler().add(Job("never", 0, lambda: None))


def test_stop_waits_for_the_running_job_and_a_scheduler_without_jobs_starts_no_thread():
    started, finished = threading.Event(), threading.Event()

    def job() -> None:
        started.set()
        time.sleep(0.2)
        finished.set()

    scheduler = Scheduler([Job("long", 0.01, job)])
    scheduler.start()
    assert started.wait(2)
    scheduler.stop()
    assert finished.is_set()
    idle = Scheduler()
    idle.start()
    assert not idle.running
