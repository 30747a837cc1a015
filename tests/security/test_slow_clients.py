"""Class 2: slow clients (slowloris) must never hold a worker; /healthz keeps answering."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.security.conftest import LiveApi

SLOW_CLIENTS = 100  # more than the API's threads (2 workers x 4 threads in the fixture)
LINE_EVERY_S = 2.0  # one header line per client per interval, never the end of the headers
ATTACK_S = 12.0  # bounded: the whole case lasts about this long
ANSWER_WITHIN_S = 1.0  # the bound for /healthz under attack


class Slowloris:
    """Connections that send a request line, then one header line every interval, forever."""

    def __init__(self, host: str, port: int, count: int, body: bool = False) -> None:
        self.sockets: list[socket.socket] = []
        self.body = body  # headers complete, then the body one byte per interval
        opening = (
            b"POST /tickets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n{"
            if body
            else b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        )
        for _ in range(count):
            sock = socket.create_connection((host, port), timeout=5)
            sock.sendall(opening)
            self.sockets.append(sock)
        self.lines_sent = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._drip, daemon=True)

    def _drip(self) -> None:
        n = 0
        while not self.stopped.wait(LINE_EVERY_S):  # the pace of the attack, not a wait on us
            n += 1
            for sock in self.sockets:
                try:
                    sock.sendall(b" " if self.body else f"X-Slow-{n}: {'a' * 16}\r\n".encode())
                    self.lines_sent += 1
                except OSError:
                    pass  # the server hung up on a slow client: what it may well do

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()


@pytest.fixture(params=["headers", "body"])
def slowloris(live_api: LiveApi, request: pytest.FixtureRequest) -> Iterator[Slowloris]:
    host, port = live_api.base_url.removeprefix("http://").split(":")
    attack = Slowloris(host, int(port), SLOW_CLIENTS, body=request.param == "body")
    attack.thread.start()
    try:
        yield attack
    finally:
        attack.close()


def test_healthz_answers_within_a_second_while_100_clients_dribble_bytes(
    live_api: LiveApi, slowloris: Slowloris
) -> None:
    deadline = time.monotonic() + ATTACK_S
    answers: list[tuple[float, int]] = []
    with httpx.Client(base_url=live_api.base_url, timeout=ANSWER_WITHIN_S) as client:
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                status = client.get("/healthz", headers={"Connection": "close"}).status_code
            except httpx.TimeoutException:
                status = 0  # no answer within the bound
            answers.append((time.monotonic() - started, status))
    assert slowloris.lines_sent >= SLOW_CLIENTS  # the attack really ran during the checks
    late = [a for a in answers if a[1] != 200]
    assert answers and not late, f"{len(late)} of {len(answers)} /healthz calls got no answer"
    # and a real request still works with all slow clients connected
    ticket = {"subject": "s", "description": "d", "customer_id": "slow"}
    headers = {"X-API-Key": live_api.admin_key}
    assert (
        httpx.post(f"{live_api.base_url}/tickets", json=ticket, headers=headers).status_code == 202
    )


def raw_answer(live_api: LiveApi, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers and body of the answer (read to the close)."""
    host, port = live_api.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass  # the server closed with request bytes unread: what it sent first still counts
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GET /" + b"a" * 4200 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (b"GET /?q=" + b"a" * 4200 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431, None),
        (
            b"POST /tickets HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-Key: "
            + b"b" * 8200
            + b"\r\n\r\n{}",
            431,
            None,
        ),
    ],
)
def test_what_the_api_refuses_for_its_size_is_our_json(
    live_api: LiveApi, request_bytes: bytes, status: int, code: str | None
) -> None:
    import json

    answered, headers, body = raw_answer(live_api, request_bytes)
    assert answered == status, body[:200]
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == (code or "headers_too_large")
    assert b"<html" not in body and b"bbbb" not in body  # nothing of the request echoed


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
            + b"\r\n",
            431,
        ),
        (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 400),
        (b"G\x00T /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, 400),  # TLS hello
    ],
)
def test_what_the_server_cannot_parse_is_a_bare_status_that_echoes_nothing(
    live_api: LiveApi, request_bytes: bytes, status: int
) -> None:
    """Bytes that are not an HTTP request never reach Flask: granian answers the status alone."""
    answered, headers, body = raw_answer(live_api, request_bytes)
    assert answered == status
    assert body == b"" and headers.get("content-length") == "0"
    assert headers.get("connection") == "close"
