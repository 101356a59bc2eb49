"""Child processes that cannot outlive the process that started them, and finding stale ones.

`spawn_bound_to_this_process` starts a server (ArcadeDB's `java`, the `temporal` dev server) the
way `subprocess.Popen` does, and on Linux asks the kernel to SIGKILL it when its parent dies
(`prctl(PR_SET_PDEATHSIG)`), so a `kill -9` of `lodestar demo` leaves no server behind. The
kernel sends that signal when the *thread* that forked the child ends, not the process, so every
child is forked by one daemon thread that lives as long as the process does; forking from a
short-lived thread (e.g. an `asyncio.to_thread` worker) would kill the server with that thread.

Elsewhere the child merely runs in its own session, and the pid and lock files its owner writes
let the next start-up find it (`server_process_of`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, cast

_PR_SET_PDEATHSIG = 1

_Request = tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]


def _die_with(parent_pid: int, prctl: Any) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


class _Forker:
    """One daemon thread that forks every bound child; see the module docstring."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="lodestar-child-forker", daemon=True)
                self._thread.start()
        result: Future[subprocess.Popen[bytes]] = Future()
        self._requests.put((start, result))
        return result.result()

    def _serve(self) -> None:
        while True:
            start, result = self._requests.get()
            try:
                result.set_result(start())
            except BaseException as error:  # handed to the caller's thread
                result.set_exception(error)


_forker = _Forker()


def spawn_bound_to_this_process(command: Sequence[str], **popen_options: Any) -> subprocess.Popen[bytes]:
    """`subprocess.Popen(command, start_new_session=True, **popen_options)` that dies with this process.

    On Linux the child gets a parent-death SIGKILL; on other systems it is an ordinary child.
    """
    if not sys.platform.startswith("linux"):
        return cast(
            "subprocess.Popen[bytes]", subprocess.Popen(command, start_new_session=True, **popen_options)
        )
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    preexec = _die_with(os.getpid(), prctl)

    def start() -> subprocess.Popen[bytes]:
        child = subprocess.Popen(command, start_new_session=True, preexec_fn=preexec, **popen_options)
        return cast("subprocess.Popen[bytes]", child)

    return _forker.run(start)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie counts until reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_cmdline(pid: int) -> str:
    """The process's command line joined by spaces; "" if it is gone or unreadable."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def server_process_of(pid_file: Path, marker: str) -> int | None:
    """The pid in `pid_file` if that process is alive and its command line contains `marker`."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if pid > 1 and pid_alive(pid) and marker in process_cmdline(pid):
        return pid
    return None


def stop_process_group(pid: int, timeout: float) -> None:
    """SIGTERM the process group led by `pid`, wait up to `timeout` s for `pid` to go, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def freeze_startup_objects() -> int:
    """Move every object alive now (imported modules, schema, drivers) out of the garbage collector's sight.

    A full (generation 2) collection walks every tracked object, holding the GIL. In the API process that
    is about half a million objects of libraries, and a collection took 350-400 ms, every ten or so
    requests of the roadmap benchmark (its p99); in a worker, a collection counts against Temporal's 2 s
    deadlock detection of every workflow task running meanwhile. Frozen objects are never freed, which is fine for what lives as long
    as the process. Returns how many objects were frozen.

    The collection thresholds stay CPython's: raising the young generation's to 10k-50k allocations made
    each young collection scan the live objects of requests in flight, 20-40 ms at a time, and the
    benchmark's p99 rose by a tenth to a quarter.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
