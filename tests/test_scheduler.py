"""The process-wide fair scheduler: fairness across owners, latest-wins slots, cancellation,
failures, background work. Jobs are plain Python callables (no model), timed by events."""

from __future__ import annotations

import contextvars
import os
import threading
import time

import pytest

from msinn_app.scheduler import CancelledError, Scheduler, wait_idle

TIMEOUT = 10


@pytest.fixture
def lane():
    scheduler = Scheduler("test", workers=1)
    yield scheduler
    scheduler.close()


def blocker(lane: Scheduler, owner="blocker") -> threading.Event:
    """Occupy a worker until the returned event is set; returns once the job is running."""
    started, release = threading.Event(), threading.Event()

    def hold():
        started.set()
        release.wait(TIMEOUT)

    lane.submit(owner, hold)
    assert started.wait(TIMEOUT)
    return release


def test_owners_take_turns_whatever_each_queued(lane):
    order = []
    release = blocker(lane)
    futures = [lane.submit("A", order.append, f"A{i}") for i in range(4)]
    futures += [lane.submit("B", order.append, f"B{i}") for i in range(2)]
    release.set()
    for f in futures:
        f.result(TIMEOUT)
    assert order == ["A0", "B0", "A1", "B1", "A2", "A3"]


def test_a_second_owner_finds_a_worker_free_of_the_first_owners_work():
    lane = Scheduler("two", workers=2)
    try:
        release = blocker(lane, owner="A")  # A's long job holds one worker
        second_a = lane.submit("A", time.monotonic)  # waits: one running job per owner
        start = time.monotonic()
        b_done = lane.submit("B", time.monotonic).result(TIMEOUT)  # runs at once on the other worker
        assert b_done - start < 1.0
        assert not second_a.done()
        release.set()
        assert second_a.result(TIMEOUT) >= b_done
    finally:
        lane.close()


def test_a_newer_request_in_the_same_slot_replaces_the_waiting_one(lane):
    ran = []
    release = blocker(lane)
    old = [lane.submit("A", ran.append, r, slot="view") for r in (1.0, 2.0)]
    other = lane.submit("A", ran.append, "other slot", slot="zoom")
    latest = lane.submit("A", ran.append, 3.0, slot="view")
    release.set()
    latest.result(TIMEOUT)
    other.result(TIMEOUT)
    for f in old:
        with pytest.raises(CancelledError):
            f.result(TIMEOUT)
    assert ran == ["other slot", 3.0]


def test_a_running_job_is_not_replaced(lane):
    release = blocker(lane, owner="A")
    lane.submit("A", lambda: None, slot="blocker")  # a slot of its own
    newer = lane.submit("A", lambda: "done", slot="view")
    release.set()
    assert newer.result(TIMEOUT) == "done"


def test_cancel_drops_an_owners_queued_jobs_and_background_work(lane):
    ran = []
    release = blocker(lane)
    jobs = [lane.submit("A", ran.append, i) for i in range(3)]
    lane.background("A", (lambda i=i: ran.append(f"bg{i}") for i in range(3)))
    kept = lane.submit("B", ran.append, "B")
    assert lane.cancel("A") == 3
    release.set()
    kept.result(TIMEOUT)
    assert wait_idle(lane, "A", TIMEOUT)
    time.sleep(0.1)
    assert ran == ["B"]
    for f in jobs:
        assert f.cancelled()
    assert lane.idle()


def test_a_failing_job_reaches_its_waiter_and_does_not_block_the_queue(lane):
    def fail():
        raise RuntimeError("bad image")

    failed = lane.submit("A", fail)
    after = [lane.submit(owner, lambda o=owner: o) for owner in ("A", "B")]
    with pytest.raises(RuntimeError, match="bad image"):
        failed.result(TIMEOUT)
    assert [f.result(TIMEOUT) for f in after] == ["A", "B"]


def test_background_runs_only_when_no_foreground_job_waits(lane):
    events = []
    release = blocker(lane)
    fg = [lane.submit("A", events.append, f"fg{i}") for i in range(3)]
    lane.background("B", (lambda i=i: events.append(f"bg{i}") for i in range(2)))
    time.sleep(0.2)
    assert events == []  # foreground jobs are waiting: no background step starts
    release.set()
    for f in fg:
        f.result(TIMEOUT)
    assert wait_idle(lane, "B", TIMEOUT)
    assert events[:3] == ["fg0", "fg1", "fg2"] and sorted(events[3:]) == ["bg0", "bg1"]


def test_background_of_two_owners_take_turns_and_a_failing_step_is_skipped():
    lane = Scheduler("bg", workers=1, background_workers=1)
    done = []

    def step(name):
        if name == "A1":
            raise ValueError("one bad step")
        done.append(name)

    try:
        release = blocker(lane)
        lane.submit("G", lambda: None)  # a waiting foreground job holds background work back
        lane.background("A", (lambda n=f"A{i}": step(n) for i in range(3)))
        lane.background("B", (lambda n=f"B{i}": step(n) for i in range(3)))
        release.set()
        assert wait_idle(lane, "A", TIMEOUT) and wait_idle(lane, "B", TIMEOUT)
    finally:
        lane.close()
    assert done == ["A0", "B0", "B1", "A2", "B2"]


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="thread priorities are a Linux feature here")
def test_background_steps_run_at_lower_cpu_priority(lane):
    seen = []
    lane.background("A", [lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))])
    assert wait_idle(lane, "A", TIMEOUT)
    assert seen and seen[0] > os.getpriority(os.PRIO_PROCESS, 0)


def test_jobs_run_in_the_submitters_context(lane):
    request = contextvars.ContextVar("request", default=None)
    request.set("visitor-1")
    assert lane.submit("A", request.get).result(TIMEOUT) == "visitor-1"
    ran = []
    lane.background("A", [lambda: ran.append(request.get())])
    assert wait_idle(lane, "A", TIMEOUT)
    assert ran == ["visitor-1"]


def test_a_closed_scheduler_refuses_work_and_cancels_the_queue():
    lane = Scheduler("closing", workers=1)
    release = blocker(lane)
    waiting = lane.submit("A", lambda: None)
    threading.Timer(0.1, release.set).start()
    lane.close()
    assert waiting.cancelled()
    with pytest.raises(RuntimeError, match="closed"):
        lane.submit("A", lambda: None)


def test_background_waits_while_every_foreground_worker_is_busy():
    lane = Scheduler("busy", workers=2)
    ran = []
    try:
        releases = [blocker(lane, owner=o) for o in ("A", "B")]  # both foreground workers busy
        lane.background("C", [lambda: ran.append("bg")])
        time.sleep(0.2)
        assert ran == []
        releases[0].set()  # one worker idle: background may use it
        assert wait_idle(lane, "C", TIMEOUT) and ran == ["bg"]
        releases[1].set()
    finally:
        lane.close()
