"""The ops API: bearer auth on every route, reads, approve/trigger through the real runner,
pause/resume through a calendar twin, and exchanges checked against the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from sqlalchemy import select
from werkzeug.datastructures import Headers, ImmutableMultiDict

from orchestrator.playbook.ports import MemoryCalendar, MemoryPost
from orchestrator.sandbox.spec import OpenApiRequest, OpenApiResponse
from orchestrator.store.schema import playbook_runs
from orchestrator.web import create_app
from orchestrator.web.openapi import document
from tests.web.conftest import T0, TOKEN, make_config
from tests.web.seed import drill_runner, incident, outbox_row, platform, post, snapshot, waiting_run

READS = ["/api/ops/platforms", "/api/ops/incidents", "/api/ops/incidents/1", "/api/ops/runs",
         "/api/ops/runs/1", "/api/ops/approvals", "/api/ops/posts", "/api/ops/outbox",
         "/api/ops/outbox/counts"]
WRITES = {"/api/ops/runs/1/approve": {}, "/api/ops/trigger": {"playbook": "drill"},
          "/api/ops/posts/pause": {"channels": ["x"], "reason": "r"},
          "/api/ops/posts/resume": {"channels": ["x"]}}



@pytest.fixture(scope="module")
def api() -> OpenAPI:
    return OpenAPI.from_dict(document())  # also validates the document itself


def conforms(api: OpenAPI, answer, *, authorized: bool = True) -> None:
    """The exchange matches the OpenAPI document (request, unless sent without the token on
    purpose, and response)."""
    request = OpenApiRequest(
        "http://testserver", answer.request.url.path, answer.request.method.lower(),
        answer.request.content or None, answer.request.headers.get("content-type", ""),
        RequestParameters(query=ImmutableMultiDict(answer.request.url.params.multi_items()),
                          header=Headers(list(answer.request.headers.items())),
                          cookie=ImmutableMultiDict()))
    response = OpenApiResponse(answer.status_code, answer.headers.get("content-type", ""),
                         Headers(list(answer.headers.items())), answer.content or None)
    errors = list(api.iter_request_errors(request)) if authorized else []
    errors += list(api.iter_response_errors(request, response))
    assert errors == [], [repr(e) + repr(e.__cause__) for e in errors]


def test_every_ops_route_is_in_the_document(client):
    app = client._transport.app
    served = {(route.path.replace(":int", ""), method.lower())
              for route in app.routes if route.path.startswith("/api/ops")
              for method in route.methods if method != "HEAD"}
    described = {(path, method) for path, item in document()["paths"].items()
                 for method in item}
    assert served == described


BAD_HEADERS = [{}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"},
               {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer"},
               {"Authorization": f"Bearer {TOKEN[:-1]}"}]


async def test_without_the_token_every_route_is_401_and_changes_nothing(client, engine, api):
    waiting_run(engine, incident(engine, T0, "Drill"), T0)
    before = snapshot(engine)
    for headers in BAD_HEADERS:
        for path in READS:
            answer = await client.get(path, headers=headers)
            assert answer.status_code == 401, (path, headers)
            assert answer.headers["www-authenticate"].startswith("Bearer")
            conforms(api, answer, authorized=False)
        for path, body in WRITES.items():
            answer = await client.post(path, json=body, headers=headers)
            assert answer.status_code == 401, (path, headers)
    assert snapshot(engine) == before
    assert (await client.get("/api/ops/openapi.json")).json() == document()


async def test_no_configured_token_disables_the_api(client, state):
    state.config = make_config(token=None)
    answer = await client.get("/api/ops/incidents", headers={"Authorization": "Bearer "})
    assert answer.status_code == 503


async def test_reads(ops, engine, api):
    platform(engine, "facebook", "major_outage", T0)
    first = incident(engine, T0, "Facebook is down", public=["on it"], private=["503s"])
    incident(engine, T0 - timedelta(days=1), "Old", state="resolved", resolved_at=T0)
    run = waiting_run(engine, first, T0)
    outbox_row(engine, "k1", "sms", "+15550000001", state="pending")
    outbox_row(engine, "k2", "sms", "+15550000002")
    post(engine, "facebook-page", "Big sale!", T0 + timedelta(hours=1))
    answers = {path: await ops.get(path) for path in
               ["/api/ops/platforms", "/api/ops/incidents?state=open",
                f"/api/ops/incidents/{first}", "/api/ops/runs", f"/api/ops/runs/{run}",
                "/api/ops/approvals", "/api/ops/posts?state=paused", "/api/ops/outbox?limit=1",
                "/api/ops/outbox/counts", "/api/ops/incidents/999"]}
    for answer in answers.values():
        conforms(api, answer)
    assert [p["state"] for p in answers["/api/ops/platforms"].json()] == ["major_outage"]
    assert [i["title"] for i in answers["/api/ops/incidents?state=open"].json()] == \
        ["Facebook is down"]
    timeline = answers[f"/api/ops/incidents/{first}"].json()["timeline"]
    assert [(e["message"], e["public"]) for e in timeline] == [("503s", False), ("on it", True)]
    assert [s["kind"] for s in answers[f"/api/ops/runs/{run}"].json()["steps"]] == \
        ["pause_posts", "approval"]
    assert answers["/api/ops/approvals"].json()[0]["reason"] == "legal must approve the SMS"
    assert len(answers["/api/ops/outbox?limit=1"].json()) == 1
    assert "lease_token" not in answers["/api/ops/outbox?limit=1"].json()[0]
    assert answers["/api/ops/outbox/counts"].json() == [
        {"channel": "sms", "state": "pending", "count": 1},
        {"channel": "sms", "state": "sent", "count": 1}]
    assert answers["/api/ops/incidents/999"].status_code == 404
    assert (await ops.get("/api/ops/runs?limit=many")).status_code == 422


async def test_trigger_and_approve_through_the_runner(ops, state, engine, api, tmp_path):
    state.runner = drill_runner(engine, state.config, state.clock, tmp_path)
    answer = await ops.post("/api/ops/trigger", json={"playbook": "drill", "by": "ana"})
    conforms(api, answer)
    assert answer.status_code == 202
    run_id = answer.json()["result"]["run_id"]
    assert [a["id"] for a in (await ops.get("/api/ops/approvals")).json()] == [run_id]
    answer = await ops.post(f"/api/ops/runs/{run_id}/approve", json={"by": "ana"})
    conforms(api, answer)
    assert answer.json() == {"run_id": run_id, "approved_by": "ana", "state": "running"}
    again = await ops.post(f"/api/ops/runs/{run_id}/approve")
    assert again.status_code == 409 and "not waiting" in again.json()["error"]
    conforms(api, again)
    unknown = await ops.post("/api/ops/trigger", json={"playbook": "nope"})
    assert unknown.status_code == 422 and "nope" in unknown.json()["error"]
    bad = await ops.post("/api/ops/trigger", json={"playbook": "drill", "extra": 1})
    assert bad.status_code == 422 and "extra" in bad.json()["error"]


async def test_approve_without_a_runner_releases_the_step(ops, engine, api):
    run = waiting_run(engine, incident(engine, T0, "Drill"), T0)
    answer = await ops.post(f"/api/ops/runs/{run}/approve", json={"by": "bo"})
    conforms(api, answer)
    assert answer.json() == {"run_id": run, "state": "running", "approved_by": "bo"}
    with engine.connect() as conn:
        assert conn.execute(select(playbook_runs.c.state)).scalar() == "running"
    assert (await ops.post("/api/ops/runs/999/approve")).status_code == 404


async def test_pause_and_resume_through_the_calendar(ops, state, api):
    calendar = MemoryCalendar([MemoryPost(1, "facebook-page", T0), MemoryPost(2, "x", T0)])
    answer = await ops.post("/api/ops/posts/pause", json={"channels": ["x"], "reason": "r"})
    assert answer.status_code == 503
    state.calendar = calendar
    answer = await ops.post("/api/ops/posts/pause",
                            json={"channels": ["facebook-page"], "reason": "FB down", "by": "ana"})
    conforms(api, answer)
    assert answer.json() == {"result": [1]}
    assert calendar.calls[0] == ("pause", {"selector": {
        "channels": ["facebook-page"], "platforms": [], "campaigns": [], "tags": [],
        "all": False}, "reason": "FB down", "by": "ana"})
    answer = await ops.post("/api/ops/posts/resume",
                            json={"channels": ["facebook-page"], "missed": "skip"})
    conforms(api, answer)
    assert answer.json() == {"result": {"resumed": [1], "missed": "skip"}}
    for body in ({"reason": "no selector"}, {"channels": ["x"]}, {"all": True, "missed": "later"}):
        path = "/api/ops/posts/resume" if "missed" in body else "/api/ops/posts/pause"
        assert (await ops.post(path, json=body)).status_code == 422
    assert (await ops.post("/api/ops/posts/pause", content=b"{")).status_code == 422


async def test_create_app_twice_reuses_the_metrics_without_doubling_them(state):
    create_app(state)
    create_app(state)  # a reload builds a new app around the same Metrics
    text = state.metrics.render().decode()
    assert text.count("# TYPE orchestrator_outbox_queue_depth gauge") == 1
