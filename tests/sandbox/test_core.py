"""The shared machinery: the server's lifecycle, the recorder, the script, the Sandbox."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from orchestrator.sandbox import PROVIDERS, Sandbox, SandboxServer
from orchestrator.sandbox.core import Harness, Outcome, RecordedRequest, Recorder, Script
from orchestrator.sandbox.webhook import WebhookSandbox


async def hello(request):
    return PlainTextResponse("hello")


APP = Starlette(routes=[Route("/", hello)])


def refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.ConnectError:
        return True
    return False


def test_server_binds_an_ephemeral_port_and_stops_cleanly():
    with SandboxServer(APP) as server, SandboxServer(APP) as other:
        assert server.url.startswith("http://127.0.0.1:") and server.port != 0
        assert server.port != other.port
        assert httpx.get(server.url, timeout=5).text == "hello"
        url = server.url
    assert not server.running
    assert refused(url)
    with pytest.raises(RuntimeError, match="not running"):
        server.url  # noqa: B018 - the property raises


async def test_server_as_async_context_manager():
    async with SandboxServer(APP) as server, httpx.AsyncClient() as client:
        assert (await client.get(server.url)).text == "hello"
    assert not server.running


def test_a_taken_port_fails_at_once():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        started = time.monotonic()
        with pytest.raises(OSError):
            SandboxServer(APP, port=taken.getsockname()[1]).start()
        assert time.monotonic() - started < 1


def test_stopping_ends_scripted_delays_at_once():
    harness = Harness()
    hook = WebhookSandbox(harness)
    harness.script.slow("webhook", 60)
    server = SandboxServer(hook.app, closing=harness.closing).start()
    answers = []

    def wait_for_answer():
        try:
            answers.append(httpx.post(server.url + "/x", timeout=10).status_code)
        except httpx.HTTPError as exc:  # a closed connection is a fine end, too
            answers.append(exc)

    waiting = threading.Thread(target=wait_for_answer)
    waiting.start()
    harness.recorder.wait_for(1)
    started = time.monotonic()
    server.stop()
    waiting.join(10)
    assert time.monotonic() - started < 3 and answers
    # The same server starts again, with its delays working again.
    with server:
        assert not harness.closing.is_set()
        assert httpx.post(server.url + "/y", timeout=5).status_code == 200


def record(provider="twilio", method="POST", path="/x") -> RecordedRequest:
    return RecordedRequest(provider, method, path, {}, {}, b"", time.time())


def test_script_consumes_outcomes_in_order_and_filters():
    script = Script()
    script.fail("twilio", 429, times=2, method="POST", path_contains="Messages.json")
    script.fail("twilio", 500)
    assert script.take("twilio", "GET", "/Messages.json").status == 500  # filter skips 429s
    assert script.take("twilio", "POST", "/Messages.json").status == 429
    assert script.take("twilio", "POST", "/Messages.json").status == 429
    assert script.take("twilio", "POST", "/Messages.json") is None
    assert script.take("sendgrid", "POST", "/v3/mail/send") is None


def test_script_forever_until_cleared_and_rejections():
    script = Script()
    script.slow("x", 0.1, times=None)
    assert all(script.take("x", "POST", "/2/tweets").kind == "slow" for _ in range(5))
    script.reject("twilio", "+15551230000", 21610)
    assert script.rejection("twilio", "+15551230000") == 21610
    assert script.rejection("twilio", "+15551230001") is None
    script.clear("x")
    assert script.take("x", "POST", "/2/tweets") is None
    assert script.rejection("twilio", "+15551230000") == 21610
    script.clear()
    assert script.rejection("twilio", "+15551230000") is None
    with pytest.raises(ValueError, match="unknown outcome kind 'explode'"):
        script.add("x", Outcome("explode"))


def test_recorder_filters_waits_and_notifies():
    recorder, seen = Recorder(), []
    recorder.subscribe(seen.append)
    recorder.add(record(path="/a/Messages.json"))
    recorder.add(record("sendgrid", path="/v3/mail/send"))
    recorder.add(record(method="GET", path="/a/Messages.json"))
    assert len(recorder.requests("twilio")) == 2
    assert len(recorder.requests(path_contains="Messages", method="get")) == 1
    assert len(seen) == len(recorder) == 3
    assert len(recorder.wait_for(3, timeout=0.1)) == 3
    with pytest.raises(TimeoutError, match="expected 4 requests"):
        recorder.wait_for(4, timeout=0.05)


def test_recorded_request_parses_forms_and_json():
    form = RecordedRequest("twilio", "POST", "/", {}, {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8"},
        b"To=%2B1555&MediaUrl=a&MediaUrl=b", 0)
    assert form.form == {"To": "+1555", "MediaUrl": ["a", "b"]}
    assert form.json is None and form.data == form.form
    body = RecordedRequest("x", "POST", "/", {}, {"content-type": "application/json"},
                           b'{"text": "hi"}', 0)
    assert body.json == {"text": "hi"} and body.form == {} and body.data == {"text": "hi"}


def test_sandbox_routes_every_provider(sandbox):
    index = httpx.get(sandbox.url + "/", timeout=5).json()
    assert list(index["providers"]) == list(PROVIDERS)
    assert index["providers"]["twilio"] == sandbox.base_url("twilio")
    with pytest.raises(KeyError, match="unknown provider 'twiliio'"):
        sandbox.base_url("twiliio")
    # An unknown path is answered in the provider's own format, and recorded.
    missing = httpx.get(sandbox.base_url("twilio") + "/2010-04-01/Nope.json", timeout=5)
    assert missing.status_code == 404 and missing.json()["code"] == 20404
    assert sandbox.requests("twilio")[0].path == "/2010-04-01/Nope.json"


def test_reset_forgets_everything(sandbox):
    sandbox.script.fail("slack", 500, times=None)
    httpx.post(sandbox.base_url("slack") + "/services/a", json={"text": "x"}, timeout=5)
    sandbox.script.reject("twilio", "+15551230000", 21610)
    sandbox.statuspage.set_component("Instagram", "major_outage")
    sandbox.reset()
    assert sandbox.requests() == [] and sandbox.script.pending("slack") == []
    assert sandbox.script.rejection("twilio", "+15551230000") is None
    assert sandbox.statuspage.page("meta").status()["indicator"] == "none"
    ok = httpx.post(sandbox.base_url("slack") + "/services/a", json={"text": "x"}, timeout=5)
    assert ok.status_code == 200 and len(sandbox.slack.messages) == 1


async def test_sandbox_as_async_context_manager():
    async with Sandbox() as sandbox, httpx.AsyncClient() as client:
        sandbox.script.rate_limit("discord", retry_after=2)
        response = await client.post(sandbox.base_url("discord") + "/api/webhooks/1/t",
                                     json={"content": "hi"})
        assert response.json()["retry_after"] == 2
