"""`triage receiver`: a local department endpoint that records and prints every delivery."""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
from typing import Any

import click
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from triage_cli.stub_departments import ReceivedDelivery, StubDepartments

DEFAULT_BIND = "127.0.0.1:9100"
KEEP_LAST = 1000  # deliveries GET /deliveries can show


def parse_bind(value: str, *, option: str = "--bind") -> tuple[str, int]:
    """HOST:PORT as (host, port), or a one-line usage error."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"use HOST:PORT, e.g. {DEFAULT_BIND}", param_hint=option)
    return host.strip("[]"), int(port)


def delivery_line(delivery: ReceivedDelivery) -> str:
    """The line printed for one delivery: its department and Idempotency-Key."""
    return f"delivered to {delivery.department}: Idempotency-Key {delivery.idempotency_key or '-'}"


class ReceiverApp:
    """The stub departments' POST /departments/<name>, plus GET /deliveries to look back."""

    def __init__(self, departments: StubDepartments) -> None:
        self.departments = departments

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.method == "GET" and request.path.rstrip("/") == "/deliveries":
            body = [
                {"department": d.department, "idempotency_key": d.idempotency_key}
                for d in self.departments.snapshot()
            ]
            response = Response(json.dumps(body), mimetype="application/json")
            return response(environ, start_response)
        return self.departments(environ, start_response)


def _print_delivery(delivery: ReceivedDelivery) -> None:
    # flush: under a supervisor stdout is a pipe, and a line that waits in a buffer is lost
    # to the person watching.
    print(delivery_line(delivery), flush=True)


@click.command("receiver")
@click.option("--bind", default=DEFAULT_BIND, show_default=True, help="HOST:PORT to listen on")
def receiver(bind: str) -> None:
    """Receive deliveries on POST /departments/NAME (as the local routing file sends them).

    Answers 200 to each, prints one line per delivery (department, Idempotency-Key) and lists
    the last ones on GET /deliveries. For trying the system out, not for production.
    """
    host, port = parse_bind(bind)
    # One line per delivery is ours; werkzeug's access line would repeat each one.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # A supervisor stops us with SIGTERM: leave as cleanly as on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    departments = StubDepartments(on_delivery=_print_delivery, keep_last=KEEP_LAST)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # Our own socket: werkzeug reports a failed bind in two lines and exits 1.
        listener = socket.create_server((host, port), family=family)
    except OSError as error:
        click.echo(
            f"triage receiver: cannot listen on {host}:{port} ({error.strerror}): "
            "stop what uses it or pass --bind",
            err=True,
        )
        sys.exit(2)
    with listener:
        server = make_server(
            host, port, ReceiverApp(departments), threaded=True, fd=listener.fileno()
        )
    click.echo(
        f"triage receiver: listening on http://{host}:{server.port}/departments/NAME",
        err=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
