"""A process-wide fair scheduler: short jobs from many owners (browser tabs, API clients)
run on a few worker threads, so that no owner can hold up the others.

    lane = Scheduler("model", workers=2)
    job = lane.submit(owner, codec.encode, prep, 3.5, slot="view")  # a concurrent.futures.Future
    result = job.result()                    # its value or its exception; CancelledError if dropped
    lane.background(owner, steps)            # idle-time work: an iterable of no-argument callables
    lane.cancel(owner)                       # drop everything ``owner`` has queued

Policy:

1. **Foreground first.** A submitted job (someone is waiting for it) goes before any
   background step; background steps run on their own thread(s), only while no foreground
   job is waiting and a foreground worker is idle, and (on Linux) at a lower CPU priority,
   so one that is running slows a foreground job little.
2. **Round robin across owners.** Each foreground worker takes the oldest job of the next
   owner in turn, so k owners with work each get every k-th job however much they queue, and
   an owner runs at most one foreground job at a time: with two workers a second owner always
   finds a worker free of the first one's work.
3. **Latest request wins within an owner.** A job submitted with a ``slot`` replaces that
   owner's job of the same slot that has not started yet: the replaced one never runs and its
   ``result()`` raises ``CancelledError``. (A running job is never interrupted: keep jobs
   short.)
4. **Failures stay with their job.** An exception is delivered to whoever waits on that
   job (a background step's is logged); the worker goes on with the next one.
5. **Context travels with the job.** A job runs in the ``contextvars`` context of the code
   that submitted it (e.g. gradio's request, which ZeroGPU's ``spaces.GPU`` reads).

No gradio and no model code here: ``msinn_app/session.py`` submits the jobs of an image
session; whoever serves creates the lanes (``msinn_app/serving.py``).
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field

__all__ = ["CancelledError", "Scheduler"]

log = logging.getLogger(__name__)


@dataclass
class _Job:
    future: Future
    fn: Callable[[], object]
    slot: Hashable | None
    context: contextvars.Context


@dataclass
class _Owner:
    """One owner's pending work: foreground jobs in arrival order, background step iterators."""

    jobs: deque[_Job] = field(default_factory=deque)
    steps: deque[tuple[Iterator[Callable[[], object]], contextvars.Context]] = field(default_factory=deque)
    running: int = 0  # foreground jobs running now (at most one)
    stepping: int = 0  # background steps being taken or run now
    generation: int = 0  # bumped by cancel(): iterators taken out before it are not put back


def _lower_priority(nice: int) -> None:
    """Raise the calling thread's nice value by ``nice`` (Linux: per thread; elsewhere a no-op)."""
    if nice and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        try:
            current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, current + nice))
        except OSError:
            pass


class Scheduler:
    """Foreground ``workers`` threads and ``background_workers`` threads, started on first use.

    ``nice``: CPU priority offset of the foreground threads (and of processes they start,
    e.g. ffmpeg), ``background_nice`` that of the background threads (Linux only).
    """

    def __init__(
        self,
        name: str,
        workers: int = 2,
        background_workers: int = 1,
        nice: int = 0,
        background_nice: int = 10,
    ):
        if workers < 1:
            raise ValueError(f"a scheduler needs at least one worker, got {workers}")
        self.name = name
        self.workers, self.background_workers = workers, background_workers
        self.nice, self.background_nice = nice, background_nice
        self._cond = threading.Condition()
        self._owners: OrderedDict[Hashable, _Owner] = OrderedDict()  # round-robin order: next first
        self._threads: list[threading.Thread] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"Scheduler({self.name!r}, workers={self.workers}, background_workers={self.background_workers})"

    # Submitting ----------------------------------------------------------------------------

    def submit(self, owner: Hashable, fn: Callable, *args, slot: Hashable | None = None, **kwargs) -> Future:
        """Queue ``fn(*args, **kwargs)`` for ``owner``; with ``slot``, replace the owner's
        not-yet-started job of that slot. Returns the job's future."""
        job = _Job(Future(), lambda: fn(*args, **kwargs), slot, contextvars.copy_context())
        with self._cond:
            if self._closed:
                raise RuntimeError(f"scheduler {self.name!r} is closed")
            queue = self._owner(owner).jobs
            if slot is not None:
                for old in [j for j in queue if j.slot == slot]:
                    queue.remove(old)
                    old.future.cancel()
            queue.append(job)
            self._start_threads()
            self._cond.notify_all()
        return job.future

    def run(self, owner: Hashable, fn: Callable, *args, slot: Hashable | None = None, **kwargs):
        """``submit`` and wait for the result (raises the job's exception, or CancelledError)."""
        return self.submit(owner, fn, *args, slot=slot, **kwargs).result()

    def background(self, owner: Hashable, steps: Iterable[Callable[[], object]]) -> None:
        """Queue idle-time work for ``owner``: each item of ``steps`` (taken lazily, one at a
        time, outside the scheduler's lock) is a no-argument callable run as one background
        step. Several iterables of one owner take turns."""
        with self._cond:
            if self._closed:
                raise RuntimeError(f"scheduler {self.name!r} is closed")
            self._owner(owner).steps.append((iter(steps), contextvars.copy_context()))
            self._start_threads()
            self._cond.notify_all()

    def cancel(self, owner: Hashable) -> int:
        """Drop every job and background step ``owner`` has queued (a running job finishes);
        return how many jobs were cancelled."""
        with self._cond:
            entry = self._owners.get(owner)
            if entry is None:
                return 0
            jobs = list(entry.jobs)
            entry.jobs.clear()
            entry.steps.clear()
            entry.generation += 1
            self._forget_if_idle(owner)
        for job in jobs:
            job.future.cancel()
        return len(jobs)

    def pending(self, owner: Hashable | None = None) -> int:
        """Foreground jobs waiting to start (of ``owner``, or of everyone)."""
        with self._cond:
            owners = self._owners.values() if owner is None else [self._owners.get(owner, _Owner())]
            return sum(len(o.jobs) for o in owners)

    def has_background(self, owner: Hashable) -> bool:
        """Whether ``owner`` still has background work queued or running."""
        with self._cond:
            entry = self._owners.get(owner)
            return bool(entry and (entry.steps or entry.stepping))

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called: long jobs that report progress can stop early on it."""
        with self._cond:
            return self._closed

    def idle(self) -> bool:
        """Whether no owner has work queued or running (foreground or background)."""
        with self._cond:
            return not self._owners

    def close(self, wait: bool = True) -> None:
        """Refuse new work, cancel what is queued and (with ``wait``) let running jobs finish."""
        with self._cond:
            self._closed = True
            owners = list(self._owners)
            self._cond.notify_all()
        for owner in owners:
            self.cancel(owner)
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()

    # Workers -------------------------------------------------------------------------------

    def _owner(self, owner: Hashable) -> _Owner:
        if owner not in self._owners:
            self._owners[owner] = _Owner()  # a newcomer joins the end of the round
        return self._owners[owner]

    def _forget_if_idle(self, owner: Hashable) -> None:
        entry = self._owners.get(owner)
        if entry is not None and not (entry.jobs or entry.steps or entry.running or entry.stepping):
            del self._owners[owner]

    def _start_threads(self) -> None:
        if self._threads:
            return
        for i in range(self.workers):
            self._threads.append(
                threading.Thread(target=self._work, args=(False,), name=f"{self.name}-{i}", daemon=True)
            )
        for i in range(self.background_workers):
            self._threads.append(
                threading.Thread(target=self._work, args=(True,), name=f"{self.name}-bg{i}", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def _next_job(self) -> tuple[Hashable, _Job] | None:
        """The oldest job of the first owner in round-robin order that has one and is not
        running one; that owner moves to the end of the round."""
        for owner, entry in self._owners.items():
            if entry.jobs and not entry.running:
                self._owners.move_to_end(owner)
                return owner, entry.jobs.popleft()
        return None

    def _next_steps(self) -> tuple[Hashable, _Owner, Iterator, contextvars.Context, int] | None:
        """Take out the next background iterator, only while no foreground job waits and a
        foreground worker is idle (background work fills idle capacity: it never makes the
        CPU or memory hold more than one job beyond the foreground workers'); owners take
        turns, and so do an owner's iterators."""
        entries = self._owners.values()
        if any(entry.jobs for entry in entries) or sum(entry.running for entry in entries) >= self.workers:
            return None
        for owner, entry in self._owners.items():
            if entry.steps:
                steps, context = entry.steps.popleft()
                entry.stepping += 1
                self._owners.move_to_end(owner)
                return owner, entry, steps, context, entry.generation
        return None

    def _work(self, background: bool) -> None:
        _lower_priority(self.background_nice if background else self.nice)
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    picked = self._next_steps() if background else self._next_job()
                    if picked is not None:
                        break
                    self._cond.wait(timeout=1.0 if background else None)
                if not background:
                    owner, job = picked
                    self._owners[owner].running += 1
            if background:
                self._step(*picked)
            else:
                self._run(owner, job)

    def _run(self, owner: Hashable, job: _Job) -> None:
        try:
            if job.future.set_running_or_notify_cancel():
                try:
                    job.future.set_result(job.context.run(job.fn))
                except BaseException as e:  # delivered to the waiter, never kills the worker
                    job.future.set_exception(e)
        finally:
            with self._cond:
                entry = self._owners.get(owner)
                if entry is not None:
                    entry.running -= 1
                    self._forget_if_idle(owner)
                self._cond.notify_all()

    def _step(
        self, owner: Hashable, entry: _Owner, steps: Iterator, context: contextvars.Context, generation: int
    ) -> None:
        """Take one step from ``steps`` and run it, then put ``steps`` back at the end of the
        owner's turn unless it is exhausted or was cancelled meanwhile. A step that raises is
        logged and skipped; an iterator that raises is dropped."""
        keep = False
        try:
            step = context.run(next, steps)
            keep = True
            context.copy().run(step)
        except StopIteration:
            pass
        except Exception:
            log.exception("%s: background work of %r failed", self.name, owner)
        finally:
            with self._cond:
                entry.stepping -= 1
                if keep and entry.generation == generation and not self._closed:
                    entry.steps.append((steps, context))
                self._forget_if_idle(owner)
                self._cond.notify_all()


def wait_idle(scheduler: Scheduler, owner: Hashable, timeout: float = 60.0) -> bool:
    """Wait until ``owner`` has no queued foreground job or background step (for tests and
    benchmarks); return whether it got there within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while scheduler.pending(owner) or scheduler.has_background(owner):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
