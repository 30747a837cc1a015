"""`triage receiver`: answers deliveries, prints one line each, lists them, stops cleanly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.processes import free_port, triage_process, wait_until_serving
from tests.support.waiting import wait_for


def test_receiver_records_and_prints_each_delivery_then_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "receiver.log"
    base = f"http://127.0.0.1:{port}"
    with triage_process(["receiver", "--bind", f"127.0.0.1:{port}"], {}, log) as process:
        wait_until_serving(f"{base}/deliveries", process, log)
        answer = httpx.post(
            f"{base}/departments/finance",
            json={"id": "t-1", "department": "finance"},
            headers={"Idempotency-Key": "t-1:1"},
        )
        assert answer.status_code == 200 and answer.json() == {"ok": True}
        assert httpx.get(f"{base}/departments/finance").status_code == 404  # POST only
        assert httpx.get(f"{base}/deliveries").json() == [
            {"department": "finance", "idempotency_key": "t-1:1"}
        ]
        line = "delivered to finance: Idempotency-Key t-1:1"
        wait_for(lambda: line in log.read_text(), timeout=10, what="the delivery line")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    text = log.read_text()
    assert text.count("delivered to") == 1  # one line per delivery, no access-log echo
    assert "Traceback" not in text


def test_receiver_on_a_port_in_use_exits_2_with_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "triage_cli", "receiver", "--bind", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"triage receiver: cannot listen on 127.0.0.1:{port}")
    assert "pass --bind" in done.stderr


def test_receiver_refuses_a_bind_without_a_port() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "triage_cli", "receiver", "--bind", "localhost"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "use HOST:PORT" in done.stderr and "Traceback" not in done.stderr
