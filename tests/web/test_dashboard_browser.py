"""The ops dashboard in real headless Chromium (Debian's /usr/bin/chromium via Playwright):
sign in, click Approve on a run held by the real runner, see the run carry on in the store
and its public note on the status page. Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from orchestrator.sandbox.server import SandboxServer
from orchestrator.store.schema import playbook_runs, step_executions
from orchestrator.web import create_app
from tests.web.conftest import TOKEN
from tests.web.seed import drill_runner

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def run_state(engine, run_id: int) -> tuple[str, list[tuple[str, str]]]:
    with engine.connect() as conn:
        state = conn.execute(select(playbook_runs.c.state)
                             .where(playbook_runs.c.id == run_id)).scalar_one()
        steps = conn.execute(select(step_executions.c.kind, step_executions.c.state)
                             .where(step_executions.c.run_id == run_id)
                             .order_by(step_executions.c.step_index)).all()
    return state, [tuple(s) for s in steps]


@pytest.mark.slow
def test_approve_in_chromium(state, engine, tmp_path, request):
    state.runner = drill_runner(engine, state.config, state.clock, tmp_path)
    _, run_id = state.runner.trigger_manual("drill", by="test")
    assert run_state(engine, run_id) == ("waiting_approval", [("approval", "waiting")])
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"dashboard-{request.node.callspec.id}.png"
    with SandboxServer(create_app(state)) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(15_000)
            page.goto(f"{server.url}/ops")
            page.fill("#token", TOKEN)
            page.click("button[type=submit]")
            button = page.locator(f"button[data-run='{run_id}']")
            button.wait_for()
            page.screenshot(path=str(shot.with_name(shot.stem + "-before.png")), full_page=True)
            button.click()
            page.wait_for_selector("#flash")
            assert page.inner_text("#flash") == f"Run {run_id} approved."
            assert page.locator("button[data-run]").count() == 0
            page.screenshot(path=str(shot), full_page=True)
            # The step after the approval ran: its note is on the public page.
            page.goto(f"{server.url}/")
            assert "We are investigating reports of <trouble> & delays." in \
                page.inner_text(".timeline")
            page.screenshot(path=str(shot.with_name(shot.stem + "-status.png")), full_page=True)
        finally:
            browser.close()
    assert run_state(engine, run_id) == ("running", [("approval", "done"),
                                                     ("status_page", "done")])
    assert shot.stat().st_size > 10_000
