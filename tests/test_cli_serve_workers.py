"""`cadency serve --workers 2`: one main process (migrations, the engine's threads) and two
spawned processes that serve; every request answers, and SIGTERM stops them all cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from cadency.cli import main

START_TIMEOUT = 180  # seconds; three interpreters import the app on a busy two-core machine
STOP_TIMEOUT = 15


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(tmp_path: Path) -> dict[str, str]:
    # Nothing from the test run's own settings: a fresh SQLite database and files folder.
    env = {name: value for name, value in os.environ.items() if not name.startswith("CADENCY_")}
    env["CADENCY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cadency.db'}"
    env["CADENCY_FILES_DIR"] = str(tmp_path / "files")
    return env


def _cli(*args: str) -> list[str]:
    # The interpreter itself, not `uv run`: the signal must reach the server, not a wrapper.
    return [sys.executable, "-m", "cadency.cli", *args]


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the processes whose parent is `pid`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            # The command name (field 2) is in parentheses and may hold spaces.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append((int(entry.name), command))
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, str, Path]]:
    if not Path("/proc/self/stat").exists():
        pytest.skip("counts the serving processes through /proc (Linux)")
    env = _environment(tmp_path)
    made = subprocess.run(
        _cli("accounts", "create", "--name", "Workers BV"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=START_TIMEOUT,
        check=True,
    )
    key = json.loads(made.stdout)["api_key"]
    port = _free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            _cli("serve", "--workers", "2", "--port", str(port)),
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Its own process group: a failed test takes the serving processes along.
            start_new_session=True,
        )
    try:
        yield process, port, key, log
    finally:
        # The whole group, even when the supervisor is gone: no serving process outlives the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


def _wait_until_answering(
    process: subprocess.Popen[bytes], base: str, headers: dict[str, str], log: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited {process.returncode}:\n{log.read_text()}"
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/api/v1/subscriptions", headers=headers).status_code == 200:
                return
        time.sleep(0.3)
    pytest.fail(f"serve did not answer in {START_TIMEOUT}s:\n{log.read_text()[-4000:]}")


def test_two_serving_processes_answer_and_stop_on_sigterm(
    server: tuple[subprocess.Popen[bytes], int, str, Path],
) -> None:
    process, port, key, log = server
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    _wait_until_answering(process, base, headers, log)

    # uvicorn's supervisor (this process) spawned two fresh interpreters that serve (besides
    # multiprocessing's resource tracker).
    serving = [pid for pid, command in _children(process.pid) if "spawn_main" in command]
    assert len(serving) == 2, _children(process.pid)

    # Each request on a new connection, so the kernel spreads them over both processes; every
    # one answers with the account's (empty) list.
    statuses = []
    for _ in range(20):
        with httpx.Client(base_url=base, headers=headers) as client:
            response = client.get("/api/v1/subscriptions")
            statuses.append(response.status_code)
            assert response.json()["data"] == []
    assert statuses == [200] * 20
    # A write through one process is read through the other: one database, no per-process state.
    with httpx.Client(base_url=base, headers=headers) as client:
        made = client.post("/api/v1/products", json={"name": "Coffee plan", "unit_price": "10"})
        assert made.status_code in (200, 201), made.text
    for _ in range(6):
        with httpx.Client(base_url=base, headers=headers) as client:
            names = [p["name"] for p in client.get("/api/v1/products").json()["data"]]
            assert "Coffee plan" in names

    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve did not stop {STOP_TIMEOUT}s after SIGTERM:\n{log.read_text()[-4000:]}")
    assert code == 0, log.read_text()[-4000:]
    # The serving processes are gone too.
    assert all(_state(pid) in ("gone", "Z") for pid in serving)
    text = log.read_text()
    assert "Started parent process" in text and "died" not in text
    assert text.count("Application startup complete") == 2


def test_serving_processes_stop_when_the_supervisor_is_killed(
    server: tuple[subprocess.Popen[bytes], int, str, Path],
) -> None:
    process, port, key, log = server
    _wait_until_answering(
        process, f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}, log
    )
    serving = [pid for pid, command in _children(process.pid) if "spawn_main" in command]
    assert len(serving) == 2, _children(process.pid)

    # SIGKILL cannot be passed on by the supervisor; the serving processes asked Linux for a
    # SIGTERM when it dies, so they stop rather than serve on unsupervised.
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + STOP_TIMEOUT
    while any(_state(pid) not in ("gone", "Z") for pid in serving):
        assert time.monotonic() < deadline, [(pid, _state(pid)) for pid in serving]
        time.sleep(0.2)
    # The port is free for a restarted server.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_serving_processes_get_the_settings_through_the_environment(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from cadency.web.app import serving_app

    served: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:
        # What a spawned process would build, from the environment the supervisor passes on.
        built = serving_app()
        served.update(app=app, options=options, base_url=built.state.settings.base_url)
        built.state.engine.dispose()

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    result = CliRunner().invoke(
        main,
        ["serve", "--port", "8203", "--no-worker"],
        env={"CADENCY_DATABASE_URL": database_url, "CADENCY_BASE_URL": None},
    )
    assert result.exit_code == 0, result.output
    # By default one serving process per CPU, each built by the factory, not this process's app.
    assert served["app"] == "cadency.web.app:serving_app"
    assert served["options"]["factory"] is True and served["options"]["workers"] == 3
    assert served["options"]["port"] == 8203
    assert served["base_url"] == "http://127.0.0.1:8203"


def _state(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return "gone"
