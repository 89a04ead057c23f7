"""The shared access log (boxcert/accesslog.py): the writer's line formats and batches, and the
middleware around a real Starlette app over a socket: status, size, outcome, latency observed,
unknown paths made printable, no query string."""

from __future__ import annotations

import io
import json
import re

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from boxcert import httpserver
from boxcert.accesslog import OUTCOME, AccessLog, AccessLogWriter, status_class


def test_text_lines_are_logging_lines() -> None:
    stream = io.StringIO()
    writer = AccessLogWriter(stream, "text", flush_every=60)
    writer.write('127.0.0.1 "POST /iot/x509" 200 10 0.5ms granted')
    assert stream.getvalue() == ""  # batched
    writer.close()
    line = stream.getvalue()
    pattern = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO boxcert\.access: 127\.0\.0\.1 "
    assert re.fullmatch(pattern + r'"POST /iot/x509" 200 10 0\.5ms granted\n', line)


def test_json_lines() -> None:
    stream = io.StringIO()
    writer = AccessLogWriter(stream, "json", flush_every=60)
    writer.write('::1 "GET /healthz" 200 5 0.1ms')
    writer.close()
    entry = json.loads(stream.getvalue())
    assert entry["level"] == "info" and entry["logger"] == "boxcert.access"
    assert entry["message"] == '::1 "GET /healthz" 200 5 0.1ms'
    assert entry["time"].endswith("+00:00")


def test_a_full_batch_is_written_at_once() -> None:
    stream = io.StringIO()
    writer = AccessLogWriter(stream, flush_every=60, max_batch=3)
    for n in range(3):
        writer.write(f"line {n}")
    assert stream.getvalue().count("\n") == 3
    writer.close()


def test_status_classes() -> None:
    assert [status_class(s) for s in (200, 303, 404, 503, 99, 600)] == [
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "other",
        "other",
    ]


def test_the_middleware_over_a_socket() -> None:
    async def known(request: Request) -> Response:
        request.scope[OUTCOME] = "paired"
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/known", known, methods=["GET"])])
    stream = io.StringIO()
    writer = AccessLogWriter(stream, flush_every=60)
    observed: list[tuple[str, int]] = []
    site = AccessLog(
        app,
        lambda path, status, seconds: observed.append((path, status)),
        writer,
        known=lambda path: path == "/known",
    )
    with httpserver.running(site) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/known?password=hunter2-secret").text == "hello"
        assert client.get("/no/such/%1b[31mpath").status_code == 404
    writer.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith('127.0.0.1 "GET /known" 200 5 ' + lines[0].split()[-2] + " paired")
    assert '"GET /no/such/' in lines[1] and " 404 " in lines[1]
    assert "\x1b" not in stream.getvalue() and "hunter2" not in stream.getvalue()
    assert observed == [("/known", 200), ("/no/such/\x1b[31mpath", 404)]
