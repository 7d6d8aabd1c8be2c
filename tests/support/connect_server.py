"""A throwaway Spark Connect server for tests: started on a free port in a folder of its own, always stopped.

The server is the installed PySpark's own (`spark-submit --class
org.apache.spark.sql.connect.service.SparkConnectServer`, jars shipped with
PySpark), so client and server are the same version. Everything it writes
(warehouse, Derby metastore, `derby.log`, its log) stays in its folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
HOST = "127.0.0.1"
# A JVM start on two busy cores takes about 25 s; far beyond that, something is wrong.
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0


class ConnectServerError(RuntimeError):
    """The server did not come up (exited or never listened)."""


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on now (the OS picks it; another process could still take it first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_confs(folder: Path, port: int, master: str = "local[2]") -> dict[str, str]:
    """The server's Spark settings: what the `spark` target sets in process, held by the server instead.

    The master, the catalog, the warehouse and the metastore are static:
    a Connect client cannot set them, so they belong to the server. The
    session zone and timestamp type are also set here, as the server-wide
    default every session starts from (the `spark_connect` target sets them
    again per session).
    """
    folder = folder.resolve()
    return {
        "spark.master": master,
        "spark.connect.grpc.binding.address": HOST,
        "spark.connect.grpc.binding.port": str(port),
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={folder / 'metastore_db'};create=true",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.shuffle.partitions": "4",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
    }


def server_command(spark_home: Path, confs: dict[str, str]) -> list[str]:
    """`spark-submit` of the Connect server class with every setting as a `--conf`."""
    cmd = [str(spark_home / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--name", "retention-connect-test"]
    for key, value in confs.items():
        cmd += ["--conf", f"{key}={value}"]
    # No application jar: spark-submit knows this class and finds it in PySpark's own jars.
    return cmd


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log: {path} does not exist)"


def is_listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_until_listening(process: subprocess.Popen, port: int, log: Path, timeout_s: float, host: str = HOST) -> None:
    """Return once `host:port` accepts connections; raise ConnectServerError if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        code = process.poll()
        if code is not None:
            raise ConnectServerError(
                f"Spark Connect server (pid {process.pid}) exited with code {code} before listening on "
                f"{host}:{port}; last lines of {log}:\n{log_tail(log)}"
            )
        if is_listening(host, port):
            return
        if time.monotonic() >= deadline:
            raise ConnectServerError(
                f"Spark Connect server (pid {process.pid}) did not listen on {host}:{port} within {timeout_s:.0f} s; "
                f"last lines of {log}:\n{log_tail(log)}"
            )
        time.sleep(0.5)


def stop(process: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM the server (its JVM shuts Spark down), SIGKILL it if it lingers; returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=timeout_s)


@dataclass
class ConnectServer:
    process: subprocess.Popen
    folder: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"sc://{HOST}:{self.port}"

    @property
    def warehouse(self) -> Path:
        return self.folder.resolve() / "warehouse"

    def wait_until_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        wait_until_listening(self.process, self.port, self.log, timeout_s)

    def stop(self) -> int:
        return stop(self.process)


def spark_home() -> Path:
    """The installed PySpark's home (its jars and bin/), whatever SPARK_HOME says."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


@contextmanager
def connect_server(
    folder: Path, port: int | None = None, master: str = "local[2]", settings: dict[str, str] | None = None
) -> Iterator[ConnectServer]:
    """Start a Connect server in `folder` (it starts in the background: call `wait_until_ready`); stopped on exit, whatever happened.

    `settings` add to or replace `server_confs`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port() if port is None else port
    home = spark_home()
    log = folder / "server.log"
    # SPARK_CONNECT_MODE=0 as in PySpark's sbin/start-connect-server.sh: the server is a classic Spark driver.
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": HOST, "SPARK_CONNECT_MODE": "0"}
    # A client setting in the environment would turn the server's own session into a client.
    for name in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "MASTER"):
        env.pop(name, None)
    # spark-submit execs the JVM, so the process started here is the server itself. It stays in the
    # test's process group: a Ctrl-C that stops the tests reaches it too.
    with log.open("wb") as out:
        process = subprocess.Popen(
            server_command(home, {**server_confs(folder, port, master), **(settings or {})}),
            cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )
    server = ConnectServer(process=process, folder=folder, port=port, log=log)
    try:
        yield server
    finally:
        server.stop()
