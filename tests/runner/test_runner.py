"""The runner over in-memory twins, on SQLite and PostgreSQL: phases, cadence, idempotency."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from orchestrator.store.schema import incident_events, playbook_runs
from tests.runner.conftest import make_config, shipped
from tests.runner.helpers import World, step, steps


def meta_world(engine, tmp_path, clock) -> World:
    config = make_config(tmp_path)
    return World(engine, config, shipped(config, "meta-outage"), clock)


def runs(engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(playbook_runs).order_by(playbook_runs.c.id)))


def test_meta_outage_phases_cadence_and_recovery(engine, tmp_path, clock):
    w = meta_world(engine, tmp_path, clock)
    w.change("facebook", None, "major_outage")
    assert runs(engine) == []                       # sustained_for: 3m not reached yet
    w.advance(timedelta(minutes=3))
    [run] = runs(engine)
    assert [p.state for p in w.calendar.posts] == ["paused", "paused", "scheduled", "paused"]
    assert Counter(r.channel for r in w.rows()) == {"sms": 2, "email": 3, "x": 1,
                                                     "linkedin": 1, "mastodon": 1}
    assert run.next_update_at == clock.now() + timedelta(hours=2)
    for _ in range(10):                             # 5 hours in 30-minute ticks
        w.advance(timedelta(minutes=30))
    updates = w.rows(step="every/")
    assert Counter(r.step_key.split("/")[1] for r in updates) == {"1": 3, "2": 3}
    assert "Update 2: Facebook is still down (4 hours 3 minutes so far)" in updates[-1].body
    w.change("facebook", "major_outage", "operational")
    [run] = runs(engine)
    assert (run.state, run.update_count, run.next_update_at) == ("completed", 2, None)
    assert [p.state for p in w.calendar.posts] == ["scheduled"] * 4
    back = w.rows(step="on_resolve/")
    assert sorted(r.channel for r in back) == ["email", "email", "email", "linkedin",
                                               "mastodon", "x"]
    assert back[0].body.startswith("Facebook is back after 5 hours 3 minutes.")
    w.advance(timedelta(hours=4))                   # nothing more once resolved
    assert len(w.rows()) == 8 + 6 + 6


def test_restart_repeats_no_finished_step(engine, tmp_path, clock):
    w = meta_world(engine, tmp_path, clock)
    w.change("facebook", None, "major_outage")
    w.advance(timedelta(minutes=3))
    [run] = runs(engine)
    before = [(s.phase, s.step_index, s.state, s.finished_at) for s in steps(engine, run.id)]
    pauses = len(w.calendar.calls)
    w.runner = w.new_runner()                       # a new process on the same database
    w.runner.tick(clock.now())
    assert [(s.phase, s.step_index, s.state, s.finished_at)
            for s in steps(engine, run.id)] == before
    assert len(w.calendar.calls) == pauses
    w.advance(timedelta(hours=2))
    assert len(w.rows(step="every/1/")) == 3


def test_a_step_left_running_by_a_crash_is_retaken_after_its_lease(engine, tmp_path, clock):
    from orchestrator.incidents import transaction
    from orchestrator.playbook import ledger

    w = meta_world(engine, tmp_path, clock)
    w.change("facebook", None, "major_outage")
    w.advance(timedelta(minutes=3))
    [run] = runs(engine)
    sms = step(engine, run.id, "on_start", 1)
    with transaction(engine) as conn:               # as if the process died inside step 1
        conn.execute(ledger.steps.update().where(ledger.steps.c.id == sms.id)
                     .values(state="running", finished_at=None))
    w.runner = w.new_runner()
    clock.advance(timedelta(minutes=1))
    w.runner.tick(clock.now())
    assert step(engine, run.id, "on_start", 1).state == "running"   # lease still held
    clock.advance(ledger.STEP_LEASE)
    w.runner.tick(clock.now())
    assert step(engine, run.id, "on_start", 1).state == "done"
    assert len(w.rows("sms")) == 2                  # re-enqueued keys are no-ops


def test_two_playbooks_on_one_incident_each_run_once(engine, tmp_path, clock):
    config = make_config(tmp_path)
    pbs = shipped(config, "meta-outage")
    twin = pbs["meta-outage"].model_copy(update={"name": "meta-twin"})
    w = World(engine, config, {**pbs, "meta-twin": twin}, clock)
    w.change("instagram", None, "partial_outage")
    w.advance(timedelta(minutes=3))
    assert sorted(r.playbook for r in runs(engine)) == ["meta-outage", "meta-twin"]
    [opened] = [a for a in w.manager.tick(clock.now())] or [None]
    assert opened is None
    for run in runs(engine):                        # replayed events start nothing new
        w.runner.start(run.incident_id, run.playbook)
    assert len(runs(engine)) == 2
    assert len(w.rows("sms")) == 4                  # 2 VIPs x 2 playbooks, keys per run


def test_timeline_records_runs(engine, tmp_path, clock):
    w = meta_world(engine, tmp_path, clock)
    w.change("facebook", None, "major_outage")
    w.advance(timedelta(minutes=3))
    w.change("facebook", "major_outage", "operational")
    with engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(incident_events)
                                              .order_by(incident_events.c.id))]
    assert kinds == ["opened", "run_started", "resolved", "run_completed"]


def test_sibling_platform_joins_the_running_story_instead_of_repeating_it(engine, tmp_path,
                                                                          clock):
    w = meta_world(engine, tmp_path, clock)
    w.change("facebook", None, "major_outage")
    w.advance(timedelta(minutes=3))
    sms_before = len(w.rows("sms"))
    w.change("instagram", None, "major_outage")      # minutes later, the other Meta platform
    w.advance(timedelta(minutes=3))
    assert [r.playbook for r in runs(engine)] == ["meta-outage"]
    assert len(w.rows("sms")) == sms_before          # customers are not told twice
    with engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(incident_events)
                                              .order_by(incident_events.c.id))]
    assert kinds.count("covered") == 1 and kinds.count("also_affected") == 1
