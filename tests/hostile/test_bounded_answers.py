"""Every answer is bounded: too large, never-ending, or a list that repeats its cursor ends the
request with a clear error, and retries honour Retry-After (provisioner.httppolicy).

Real HTTP servers on loopback; the deadline is checked with an injected clock that advances per
chunk read, so no test waits on wall time.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from itertools import count

import pytest
import requests

from provisioner.errors import RemoteError
from provisioner.httppolicy import AnswerTooLarge, AnswerTooSlow, Limits, PolicySession
from provisioner.secret import Secret
from provisioner.workflow2.api import Workflow2Client
from provisioner.workflow2.transport import Transport
from tests.hostile_server import endless, serving

_endless = endless()


def test_an_answer_larger_than_the_cap_is_refused() -> None:
    with serving(_endless) as url:
        session = PolicySession(Limits(max_body=256 * 1024))
        with pytest.raises(AnswerTooLarge, match="larger than the 262144 bytes accepted"):
            session.get(url + "/huge")

    def declared(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(10 * 1024 ** 3))
        handler.end_headers()

    with serving(declared) as url, pytest.raises(AnswerTooLarge, match="declares 10737418240"):
        PolicySession(Limits(max_body=1024)).get(url)


def test_an_answer_that_never_ends_hits_the_total_deadline() -> None:
    ticks = count()
    with serving(_endless) as url:
        session = PolicySession(Limits(total_deadline=50.0, max_body=10 ** 12),
                                clock=lambda: float(next(ticks)))
        with pytest.raises(AnswerTooSlow, match="took longer than 50 s"):
            session.get(url)
        assert isinstance(AnswerTooSlow("x"), requests.Timeout)  # callers treat it as one


def test_the_workflow2_transport_reports_a_huge_answer_as_the_operation_failing() -> None:
    with serving(_endless) as url:
        transport = Transport(url, Secret("n8n_api_x"), instance_name="prod", attempts=2,
                              session=PolicySession(Limits(max_body=64 * 1024)),
                              sleep=lambda _s: None)
        with pytest.raises(RemoteError, match=r"answered more than provisioner reads .* while "
                           r"trying to list credentials"):
            transport.request("GET", "/api/v1/credentials", op="list credentials")


def test_retry_after_is_honoured() -> None:
    answers = iter([(429, {"Retry-After": "7"}), (503, {"Retry-After": "120"}), (200, {})])

    def throttled(handler: BaseHTTPRequestHandler) -> None:
        status, headers = next(answers)
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"{}")

    sleeps: list[float] = []
    with serving(throttled) as url:
        transport = Transport(url, Secret("n8n_api_x"), instance_name="prod", attempts=3,
                              sleep=sleeps.append, rand=lambda: 1.0)
        assert transport.request("GET", "/api/v1/credentials", op="list").status_code == 200
    assert sleeps == [7.0, 30.0]  # the server's wish, capped at 30 s


def test_a_list_that_repeats_its_cursor_is_refused() -> None:
    def looping(handler: BaseHTTPRequestHandler) -> None:
        body = json.dumps({"data": [{"id": "a1", "name": "x", "type": "t"}],
                           "nextCursor": "same"}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with serving(looping) as url:
        client = Workflow2Client(url, Secret("n8n_api_x"), instance_name="prod")
        with pytest.raises(RemoteError, match="a cursor it had already given"):
            client.list_credentials()


def test_a_workflow2_server_that_answers_but_stalls_timed_out_not_unreachable() -> None:
    ticks = count()
    with serving(_endless) as url:
        transport = Transport(url, Secret("n8n_api_x"), instance_name="prod", attempts=2,
                              session=PolicySession(Limits(total_deadline=50.0, max_body=10 ** 12),
                                                    clock=lambda: float(next(ticks))),
                              sleep=lambda _s: None)
        with pytest.raises(RemoteError) as info:
            transport.request("GET", "/api/v1/credentials", op="list credentials")
    assert "Workflow² instance 'prod'" in info.value.message
    assert "timed out while trying to list credentials (2 attempts)" in info.value.message
    assert "unreachable" not in info.value.message


def test_the_callback_lookup_of_a_server_that_drips_ends_at_the_deadline() -> None:
    # The unauthenticated settings lookup goes through the same bounded session: an answer that
    # never ends falls back to the derived URL at the total deadline (clock injected).
    from provisioner.workflow2.callback import resolve_callback_url

    ticks = count()
    with serving(_endless) as url:
        session = PolicySession(Limits(total_deadline=50.0, max_body=10 ** 12),
                                clock=lambda: float(next(ticks)))
        resolved = resolve_callback_url(url, session=session)
    assert (resolved.url, resolved.source) == (url + "/rest/oauth2-credential/callback",
                                               "derived")
    assert next(ticks) < 10_000  # stopped by the deadline, not by the answer running out
