"""The http monitor: conditions and state_from over a real local server, config errors located."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from pydantic import ValidationError

from orchestrator.monitors.http import HttpMonitor, HttpMonitorConfig
from tests.monitors.webfixtures import bytes_handler, json_handler

TRUST_MAP = {"OK": "operational", "MINOR_INCIDENT_CORE": "degraded",
             "MAJOR_INCIDENT_CORE": "major_outage", "MAINTENANCE_CORE": "maintenance"}


def http_monitor(url: str, **extra) -> HttpMonitor:
    return HttpMonitor(HttpMonitorConfig(name="na14-trust", platform="salesforce-na14",
                                         kind="http", url=url, timeout="2s", **extra))


@pytest.mark.parametrize("status, state", [
    ("OK", "operational"), ("MAJOR_INCIDENT_CORE", "major_outage"),
    ("major_incident_core", "major_outage"), ("MAINTENANCE_CORE", "maintenance"),
    ("SOMETHING_NEW", "unknown"),
])
async def test_salesforce_trust_style_state_from(serve, client, status, state):
    payload = {"key": "NA14", "location": "NA", "environment": "production",
               "releaseVersion": "Winter '25", "status": status, "isActive": True}
    base = await serve({"/v1/instances/NA14/status": json_handler(payload)})
    obs = await http_monitor(f"{base}/v1/instances/NA14/status",
                             state_from={"path": "status", "map": TRUST_MAP}).check(client)
    assert (obs.ok, obs.state) == (True, state)
    assert obs.reason == f"status is {status!r}"
    assert obs.detail["value"] == status
    assert obs.maintenance is (state == "maintenance")


async def test_conditions_pass_and_fail(serve, client):
    payload = {"status": {"indicator": "minor"}, "items": [1]}
    base = await serve({"/s": json_handler(payload)})
    conditions = ["[STATUS] == 200", "[RESPONSE_TIME] < 5000",
                  "[BODY].status.indicator == any(none, minor)", "len([BODY].items) > 0",
                  "has([BODY].status) == true"]
    ok = await http_monitor(f"{base}/s", conditions=conditions).check(client)
    assert (ok.ok, ok.state, ok.reason) == (True, "operational", "")
    failing = await http_monitor(f"{base}/s", failed_state="degraded", conditions=[
        "[BODY].status.indicator == none", "len([BODY].items) > 3"]).check(client)
    assert (failing.ok, failing.state) == (True, "degraded")
    assert failing.reason == ("failed: [BODY].status.indicator (minor) == none; "
                              "len([BODY].items) (1) > 3")


async def test_a_4xx_is_judged_by_the_conditions(serve, client):
    base = await serve({"/s": bytes_handler(b"gone", "text/plain", status=404)})
    obs = await http_monitor(f"{base}/s").check(client)
    assert (obs.ok, obs.state) == (True, "major_outage")
    assert obs.reason == "failed: [STATUS] (404) == 200"


async def test_a_4xx_with_state_from_is_a_failed_poll(serve, client):
    base = await serve({"/s": json_handler({"error": "nope"}, status=404)})
    obs = await http_monitor(f"{base}/s", state_from={"path": "status", "map": TRUST_MAP}
                             ).check(client)
    assert (obs.ok, obs.state) == (False, "unknown") and obs.reason.startswith("HTTP 404 from")


async def test_html_instead_of_json_under_state_from(serve, client):
    base = await serve({"/s": bytes_handler(b"<html><body>Login</body></html>", "text/html")})
    obs = await http_monitor(f"{base}/s", state_from={"path": "status", "map": TRUST_MAP}
                             ).check(client)
    assert (obs.ok, obs.state) == (False, "unknown")
    assert obs.reason == "expected JSON, got text/html: '<html><body>Login</body></html>'"


async def test_missing_state_path_is_a_failed_poll(serve, client):
    base = await serve({"/s": json_handler({"state": "OK"})})
    obs = await http_monitor(f"{base}/s", state_from={"path": "status", "map": TRUST_MAP}
                             ).check(client)
    assert (obs.ok, obs.reason) == (False, "status is not in the response")


async def test_post_with_headers_and_body(serve, client):
    seen = {}

    async def echo(request: web.Request) -> web.Response:
        seen.update(method=request.method, auth=request.headers.get("Authorization"),
                    body=await request.text())
        return web.json_response({"data": [{"status": "ok"}]})

    base = await serve({"/graphql": echo})
    obs = await http_monitor(f"{base}/graphql", method="POST", body='{"q": 1}',
                             headers={"Authorization": "Bearer abc"},
                             conditions=["[BODY].data[0].status == ok"]).check(client)
    assert obs.state == "operational"
    assert seen == {"method": "POST", "auth": "Bearer abc", "body": '{"q": 1}'}


def test_bad_conditions_are_located_config_errors():
    with pytest.raises(ValidationError) as info:
        HttpMonitorConfig(name="m", platform="p", kind="http", url="https://x.example/",
                          conditions=["[STATUS] == 200", "[STAUTS] == 200"],
                          state_from={"path": "a..b", "map": {"ok": "operational"}})
    errors = {".".join(map(str, e["loc"])): e["msg"] for e in info.value.errors()}
    assert errors == {
        "conditions.1": "Value error, unknown placeholder [STAUTS] at column 1 of "
                        "'[STAUTS] == 200' (did you mean [STATUS]?); expected one of "
                        "[STATUS], [RESPONSE_TIME], [CONNECTED], [BODY]",
        "state_from.path": "Value error, expected a key name at column 3 of path 'a..b', "
                           "found '.'",
    }


def test_state_is_stateless_and_serialisable():
    monitor = http_monitor("https://x.example/")
    assert json.dumps(monitor.state_dict()) == "{}"
    monitor.load_state({"anything": 1})


def test_config_errors_are_located_in_the_file(tmp_path):
    from orchestrator.config import load_config
    from orchestrator.errors import ConfigError

    path = tmp_path / "config.yaml"
    path.write_text(
        "platforms: {x: {}}\n"
        "monitors:\n"
        "  - name: x-api\n"
        "    platform: x\n"
        "    kind: http\n"
        "    url: https://api.x.example/health\n"
        "    conditions:\n"
        '      - "[STATUS] == 200"\n'
        '      - "len([BODY].items) >"\n'
        '    state_from: {path: "a..b", map: {ok: operational}}\n'
        "  - {name: x-page, platform: x, kind: statuspage,\n"
        "     url: https://s.example/api/v2/status.json, components: [API]}\n"
        "  - {name: x-meta, platform: x, kind: http, url: http://169.254.169.254/}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    lines = [line.replace(str(path), "config.yaml") for line in str(info.value).splitlines()]
    assert lines == [
        "config.yaml:9:9: monitors[0].conditions[1]: expected a value after '>' at column 20 "
        "of 'len([BODY].items) >'",
        "config.yaml:10:24: monitors[0].state_from.path: expected a key name at column 3 of "
        "path 'a..b', found '.'",
        "config.yaml:12:61: monitors[1].components: status.json lists no components: use "
        "summary.json (or incidents/unresolved.json) to watch API",
        "config.yaml:13:50: monitors[2].url: 169.254.169.254 is a link-local, multicast or "
        "unspecified address (cloud metadata lives there); set allow_private: true to use it",
    ]
