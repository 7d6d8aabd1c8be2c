"""The throwaway Spark Connect server's helpers: its settings, its command, and how a bad start fails."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.connect_server import (
    SERVER_CLASS,
    ConnectServerError,
    free_port,
    server_command,
    server_confs,
    stop,
    wait_until_listening,
)


def test_the_server_keeps_its_warehouse_and_metastore_in_its_folder_by_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    confs = server_confs(Path("server"), 15123)
    assert confs["spark.sql.warehouse.dir"] == str(tmp_path / "server" / "warehouse")
    assert f"databaseName={tmp_path / 'server' / 'metastore_db'};" in confs["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert confs["spark.connect.grpc.binding.port"] == "15123"


def test_the_server_uses_the_hive_catalog_utc_and_naive_timestamps_like_the_spark_target(tmp_path):
    confs = server_confs(tmp_path, 15002)
    assert confs["spark.sql.catalogImplementation"] == "hive"
    assert confs["spark.sql.session.timeZone"] == "UTC"
    assert confs["spark.sql.timestampType"] == "TIMESTAMP_NTZ"


def test_the_command_submits_the_connect_server_class_with_every_setting(tmp_path):
    confs = {"spark.master": "local[1]", "spark.sql.warehouse.dir": "/x y/warehouse"}
    cmd = server_command(tmp_path, confs)
    assert cmd[0] == str(tmp_path / "bin" / "spark-submit")
    assert cmd[cmd.index("--class") + 1] == SERVER_CLASS
    given = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--conf"]
    assert given == ["spark.master=local[1]", "spark.sql.warehouse.dir=/x y/warehouse"]


def test_a_free_port_can_be_bound():
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))


def test_waiting_returns_once_the_port_accepts_connections(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            wait_until_listening(process, listener.getsockname()[1], tmp_path / "server.log", timeout_s=10)
        finally:
            stop(process, timeout_s=5)


def test_a_server_that_never_listens_fails_after_the_timeout_with_its_log(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("starting\nstill thinking\n")
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(ConnectServerError, match=r"did not listen on 127\.0\.0\.1:\d+ within 1 s(.|\n)*still thinking"):
            wait_until_listening(process, free_port(), log, timeout_s=1)
    finally:
        stop(process, timeout_s=5)


def test_a_server_that_exits_fails_at_once_with_its_exit_code_and_log(tmp_path):
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; print('port already in use'); sys.exit(3)"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    process.wait(timeout=30)
    with pytest.raises(ConnectServerError, match=r"exited with code 3(.|\n)*port already in use"):
        wait_until_listening(process, free_port(), log, timeout_s=60)


def test_stopping_kills_a_server_that_ignores_sigterm(tmp_path):
    ready = tmp_path / "ready"
    script = (
        "import pathlib, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stop(process, timeout_s=1) == -signal.SIGKILL


def test_stopping_a_server_that_already_exited_returns_its_code():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(4)"])
    process.wait(timeout=30)
    assert stop(process, timeout_s=1) == 4
