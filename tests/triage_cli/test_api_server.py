"""`triage api`'s gunicorn settings, and the errors gunicorn answers itself as our JSON."""

from __future__ import annotations

import json
import socket

from triage_cli.servers import gunicorn_child_exit, gunicorn_options, json_server_error


def options(worker_class: str, threads: int = 8) -> dict[str, object]:
    return gunicorn_options(
        bind="127.0.0.1:8000",
        workers=2,
        threads=threads,
        connections=1000,
        worker_class=worker_class,
        control_socket=None,
    )


def test_gevent_is_bounded_by_connections_and_keeps_the_hooks() -> None:
    chosen = options("gevent")
    assert chosen["worker_class"] == "gevent"
    assert chosen["worker_connections"] == 1000
    assert "threads" not in chosen  # gevent runs no thread per connection
    assert chosen["child_exit"] is gunicorn_child_exit  # metrics of dead workers forgotten
    assert chosen["control_socket_disable"] is True


def test_gthread_keeps_its_threads_and_one_thread_is_sync() -> None:
    assert options("gthread")["threads"] == 8
    assert options("gthread", threads=1)["worker_class"] == "sync"


def test_a_server_error_is_our_json_and_echoes_nothing() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        json_server_error(ours, 431, "Request Header Fields Too Large", "X-Secret: hunter2")
        answer = theirs.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"Content-Type: application/json" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {
        "error": {
            "code": "headers_too_large",
            "message": "Request Header Fields Too Large",
            "details": None,
        }
    }
    assert b"hunter2" not in answer
