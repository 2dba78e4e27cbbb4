"""The ops dashboard over HTTP: sign-in, cookie flags, CSRF on every form, approve."""

from __future__ import annotations

import re
import time

from sqlalchemy import select

from orchestrator.store.schema import playbook_runs
from orchestrator.web.security import csrf_token, new_session, session_nonce
from tests.web.conftest import T0, TOKEN
from tests.web.seed import incident, platform, post, snapshot, waiting_run


async def sign_in(client) -> str:
    """Sign in; the page's CSRF token."""
    answer = await client.post("/ops/login", data={"token": TOKEN})
    assert answer.status_code == 303 and answer.headers["location"] == "/ops"
    page = await client.get("/ops")
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)


async def test_login_page_and_wrong_token(client):
    page = await client.get("/ops")
    assert page.status_code == 200 and 'action="/ops/login"' in page.text
    assert page.headers["cache-control"] == "no-store"
    wrong = await client.post("/ops/login", data={"token": "guess"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers


async def test_cookie_flags(client):
    answer = await client.post("/ops/login", data={"token": TOKEN})
    cookie = answer.headers["set-cookie"].lower()
    for flag in ("httponly", "samesite=strict", "path=/ops", "max-age=43200"):
        assert flag in cookie
    assert TOKEN.lower() not in cookie


async def test_dashboard_shows_the_state_and_approves(client, engine):
    platform(engine, "facebook", "major_outage", T0)
    first = incident(engine, T0, "Facebook <down>", public=["on it"], private=["503 from API"])
    run = waiting_run(engine, first, T0)
    post(engine, "facebook-page", "Black Friday <sale>", T0)
    csrf = await sign_in(client)
    page = (await client.get("/ops")).text
    for shown in ("major_outage", "Facebook &lt;down&gt;", "503 from API",
                  "Black Friday &lt;sale&gt;", "legal must approve the SMS",
                  f'action="/ops/runs/{run}/approve"'):
        assert shown in page
    answer = await client.post(f"/ops/runs/{run}/approve", data={"csrf": csrf})
    assert answer.status_code == 303
    flash = (await client.get(answer.headers["location"])).text
    assert f"Run {run} approved." in flash and "Nothing is waiting for you." in flash
    with engine.connect() as conn:
        assert conn.execute(select(playbook_runs.c.state)).scalar() == "running"


async def test_forms_without_the_csrf_token_change_nothing(client, engine):
    run = waiting_run(engine, incident(engine, T0, "Drill"), T0)
    before = snapshot(engine)
    # Signed out: no session at all.
    assert (await client.post(f"/ops/runs/{run}/approve", data={"csrf": "x"})).status_code \
        == 403
    csrf = await sign_in(client)
    flipped = csrf[:-1] + ("1" if csrf[-1] == "0" else "0")
    for data in ({}, {"csrf": ""}, {"csrf": flipped}, {"csrf": csrf_token("other", "n")}):
        answer = await client.post(f"/ops/runs/{run}/approve", data=data)
        assert answer.status_code == 403
    assert (await client.post("/ops/logout", data={})).status_code == 403
    # A session minted with another key is no session.
    client.cookies.set("orch_session", new_session("other-key", time.time()), path="/ops")
    assert (await client.post(f"/ops/runs/{run}/approve", data={"csrf": csrf})).status_code \
        == 403
    assert snapshot(engine) == before


async def test_logout(client):
    csrf = await sign_in(client)
    answer = await client.post("/ops/logout", data={"csrf": csrf})
    assert answer.status_code == 303
    assert 'action="/ops/login"' in (await client.get("/ops")).text


def test_sessions_expire_and_are_bound_to_the_token():
    cookie = new_session("key", 1_000_000)
    assert session_nonce(cookie, "key", 1_000_000 + 3600) is not None
    assert session_nonce(cookie, "key", 1_000_000 + 13 * 3600) is None
    assert session_nonce(cookie, "rotated", 1_000_000) is None
    assert session_nonce("a.b.c", "key", 1_000_000) is None
    assert session_nonce("café.b.c", "key", 1_000_000) is None
    assert session_nonce(cookie, None, 1_000_000) is None
