"""Runs playbooks for incidents: on_start once, `every` on its cadence, on_resolve once.

Everything the runner knows is in the store, so any runner on the same database (a restart,
another replica, the CLI) picks a run up where it stopped:

- a run is a playbook_runs row, created with ON CONFLICT DO NOTHING on (incident, playbook);
- each step is a step_executions row keyed (phase, iteration, index), claimed before it runs
  and marked finished only after its effect is durable (outbox rows written, posts paused,
  timeline entry added), so a finished step is never repeated;
- the cadence is `next_update_at`, which `tick(now)` compares with the clock;
- `wait` and `approval` hold the run as `waiting` rows with their deadline.

A step that fails without `continue_on_error` ends its phase (the rest is recorded as
skipped); later phases still run, because on_resolve restores what on_start paused. An
approval that times out with `on_timeout: abort` ends the run at once. When the incident
is resolved, whatever of on_start and the current update has not run is skipped, pending
holds end (an approval takes its timeout default), and on_resolve runs.

The runner is synchronous (SQL and a short webhook call); the daemon calls it from a
worker thread.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from orchestrator.clock import Clock, SystemClock
from orchestrator.incidents import (
    IncidentOpened,
    IncidentResolved,
    TriggerMatched,
    append_event,
    resolve_incident,
    transaction,
)
from orchestrator.playbook import context as ctx
from orchestrator.playbook import ledger
from orchestrator.playbook.effects import EffectApplier
from orchestrator.playbook.model import Playbook, step_kind
from orchestrator.playbook.steps import Audiences, StepFailed, StepInput, plan_step
from orchestrator.playbook.templates import _humanize as humanize
from orchestrator.playbook.templates import evaluate
from orchestrator.problems import unknown_name
from orchestrator.store.schema import incidents, platform_states
from orchestrator.store.schema import step_executions as steps_table

log = logging.getLogger(__name__)


class RunnerError(Exception):
    """A request the runner refuses (unknown playbook, run not waiting for approval...)."""


def next_slot(scheduled: datetime, interval: timedelta, now: datetime) -> datetime:
    """The next update time after `scheduled`, skipping slots missed while nobody ticked."""
    following = scheduled + interval
    while following <= now:
        following += interval
    return following


class Runner:
    """Executes playbooks for incidents, durably; one instance per process is enough."""

    def __init__(self, engine: Engine, config: Any, playbooks: Mapping[str, Playbook], *,
                 outbox: Any, calendar: Any, audiences: Audiences,
                 clock: Clock | None = None, http: Any = None, actor: str = "runner"):
        self.engine, self.config, self.playbooks = engine, config, dict(playbooks)
        self.clock, self.actor = clock or SystemClock(), actor
        self.audiences = audiences
        self.effects = EffectApplier(engine, outbox=outbox, calendar=calendar, http=http,
                                     actor=actor)

    @classmethod
    def from_config(cls, engine: Engine, config: Any, playbooks: Mapping[str, Playbook], *,
                    clock: Clock | None = None, actor: str = "runner") -> Runner:
        """A runner on the store: the outbox table, the content calendar, stored audiences."""
        from orchestrator.outbox import Outbox
        from orchestrator.playbook.ports import PostsCalendar, StoreAudiences

        return cls(engine, config, playbooks, outbox=Outbox(engine),
                   calendar=PostsCalendar(engine, config), audiences=StoreAudiences(engine),
                   clock=clock, actor=actor)

    # --- Entries for the daemon and the CLI. ---

    def handle(self, event: Any) -> list[int]:
        """React to an incident event; returns the ids of the runs it touched."""
        if isinstance(event, IncidentOpened | TriggerMatched):
            return [self._join_or_start(event.incident_id, name) for name in event.playbooks
                    if name in self.playbooks]
        if isinstance(event, IncidentResolved):
            with self.engine.connect() as conn:
                runs = ledger.unfinished_runs(conn, event.incident_id)
            for run_id in runs:
                self.advance(run_id)
            return runs
        return []

    def _join_or_start(self, incident_id: int, playbook: str) -> int:
        """Start the playbook, unless a run of it already covers a sibling platform's open
        incident (Instagram falling minutes after Facebook): then note it on both timelines."""
        trigger = self._playbook(playbook).trigger
        if trigger is not None and len(trigger.platforms) > 1:
            now = self.clock.now()
            with transaction(self.engine) as conn:
                covering = ledger.covering_run(conn, incident_id, playbook, trigger.platforms)
                if covering is not None and not ledger.has_run(conn, incident_id, playbook):
                    run_id, other = covering
                    append_event(conn, incident_id, "covered", now, self.actor,
                                 f"covered by run {run_id} of {playbook} (incident {other})",
                                 {"run_id": run_id})
                    append_event(conn, other, "also_affected", now, self.actor,
                                 f"incident {incident_id} joins this run of {playbook}",
                                 {"incident_id": incident_id})
                    return run_id
        return self.start(incident_id, playbook)

    def tick(self, now: datetime | None = None) -> list[int]:
        """Advance every unfinished run: due updates, expired holds, missed resolutions."""
        with self.engine.connect() as conn:
            runs = ledger.unfinished_runs(conn)
        for run_id in runs:
            try:
                self.advance(run_id, now)
            except Exception:  # noqa: BLE001 - one broken run must not starve the others
                log.exception("run %s could not advance", run_id)
        return runs

    def start(self, incident_id: int, playbook: str,
              variables: Mapping[str, Any] | None = None) -> int:
        """The run of `playbook` for the incident, created once, then advanced."""
        pb = self._playbook(playbook)
        now = self.clock.now()
        with transaction(self.engine) as conn:
            run_id, created = ledger.create_run(
                conn, incident_id, playbook, dict(pb.vars if variables is None else variables),
                now)
            if created:
                append_event(conn, incident_id, "run_started", now, self.actor,
                             f"playbook {playbook} started (run {run_id})",
                             {"run_id": run_id, "playbook": playbook})
        self.advance(run_id, now)
        return run_id

    def trigger_manual(self, playbook: str, platform: str | None = None,
                       vars: Mapping[str, Any] | None = None, *,  # noqa: A002 - the CLI's word
                       by: str) -> tuple[int, int]:
        """Open a manual incident and start `playbook` for it: (incident id, run id)."""
        pb = self._playbook(playbook)
        if platform is not None and platform not in self.config.platforms:
            raise RunnerError(unknown_name("platform", platform, self.config.platforms))
        try:
            variables = ctx.merge_vars(pb.vars, vars or {})
        except ValueError as exc:
            raise RunnerError(str(exc)) from None
        now = self.clock.now()
        title = manual_title(self.config, pb, platform)
        with transaction(self.engine) as conn:
            incident_id = conn.execute(insert(incidents).values(
                key=f"manual:{uuid.uuid4().hex}", kind="manual", platform=platform,
                title=title, state="open", platform_state="major_outage" if platform else None,
                started_at=now, created_by=by, detail={"playbooks": [playbook]},
            ).returning(incidents.c.id)).scalar_one()
            append_event(conn, incident_id, "opened", now, by,
                         f"{title}: opened by hand for playbook {playbook}",
                         {"playbooks": [playbook]})
        return incident_id, self.start(incident_id, playbook, variables)

    def approve(self, run_id: int, by: str) -> str:
        """Approve the run's pending approval step, then carry on; returns the run state."""
        now = self.clock.now()
        with transaction(self.engine) as conn:
            run = ledger.get_run(conn, run_id)
            if run is None:
                raise RunnerError(f"no run {run_id}")
            row = conn.execute(select(steps_table).where(
                steps_table.c.run_id == run_id, steps_table.c.kind == "approval",
                steps_table.c.state == "waiting")).first()
            if row is None:
                raise RunnerError(f"run {run_id} is not waiting for an approval "
                                  f"(state: {run.state})")
            detail = {**(row.detail or {}), "approved_by": by, "approved_at": now.isoformat()}
            ledger.finish(conn, row.id, "done", f"approved by {by}", detail, now,
                          expect="waiting")
            ledger.set_run(conn, run_id, state="running")
            append_event(conn, run.incident_id, "approved", now, by,
                         f"run {run_id} ({run.playbook}) approved by {by}", {"run_id": run_id})
        return self.advance(run_id, now)

    def resolve(self, incident_id: int, *, by: str, message: str | None = None) -> bool:
        """Resolve an incident by hand and run its playbooks' on_resolve."""
        now = self.clock.now()
        with transaction(self.engine) as conn:
            done = resolve_incident(conn, incident_id, now, by, message or f"resolved by {by}")
        if done:
            self.handle(IncidentResolved(incident_id, "", now))
        return done

    # --- Advancing one run. ---

    def advance(self, run_id: int, now: datetime | None = None) -> str:
        """Do whatever the run can do now; returns its state afterwards."""
        now = now or self.clock.now()
        with self.engine.connect() as conn:
            run, incident = ledger.get_run(conn, run_id), None
            if run is not None:
                incident = ledger.get_incident(conn, run.incident_id)
        if run is None or run.finished_at is not None or incident is None:
            return run.state if run is not None else "missing"
        pb = self.playbooks.get(run.playbook)
        if pb is None:
            log.warning("run %s: playbook %s is not loaded; left as it is", run_id, run.playbook)
            return run.state
        if incident.state == "resolved":
            self._finish(run, pb, incident, now)
        elif self._phase(run, pb, incident, "on_start", 0, pb.on_start, now) in ("done",
                                                                                 "failed"):
            if pb.every is not None:
                self._every(run, pb, incident, now)
        return self._state(run_id)

    def _finish(self, run: Any, pb: Playbook, incident: Any, now: datetime) -> None:
        if self._close(run, pb, now) != "done":
            return
        if self._phase(run, pb, incident, "on_resolve", 0, pb.on_resolve, now) not in (
                "done", "failed"):
            return
        failed = self._failed_steps(run.id, pb)
        state = "failed" if failed else "completed"
        message = (f"playbook {pb.name} {state} (run {run.id})"
                   + (f"; failed: {', '.join(failed)}" if failed else ""))
        with transaction(self.engine) as conn:
            ledger.finish_run(conn, run.id, state, now, self.actor, message)

    def _every(self, run: Any, pb: Playbook, incident: Any, now: datetime) -> None:
        every = pb.every
        with self.engine.connect() as conn:
            rows = ledger.step_rows(conn, run.id)
        cadence = rows.get(ledger.CADENCE)
        if cadence is None:
            with transaction(self.engine) as conn:
                if ledger.record(conn, run.id, ledger.CADENCE, "every", "running",
                                 f"an update every {humanize(every.interval)}", now):
                    ledger.set_run(conn, run.id, next_update_at=now + every.interval)
            return
        if cadence.state != "running":
            return
        number = run.update_count + 1
        started = any(("every", number, i) in rows for i in range(len(every.steps)))
        if not started:
            if run.next_update_at is None or now < run.next_update_at:
                return
            stop = self._stop_reason(run, pb, incident, now)
            if stop is not None:
                with transaction(self.engine) as conn:
                    ledger.finish(conn, cadence.id, "done", stop, None, now)
                    ledger.set_run(conn, run.id, next_update_at=None)
                return
        result = self._phase(run, pb, incident, "every", number, every.steps, now)
        if result in ("done", "failed"):
            following = next_slot(run.next_update_at or now, every.interval, now)
            with transaction(self.engine) as conn:
                ledger.advance_count(conn, run.id, number, following)

    def _stop_reason(self, run: Any, pb: Playbook, incident: Any, now: datetime) -> str | None:
        every = pb.every
        if every.max_updates is not None and run.update_count >= every.max_updates:
            return f"updates stop: max_updates {every.max_updates} reached"
        if every.until:
            context = self._context(run, incident, run.update_count, now)[0]
            try:
                if evaluate(every.until, context, self.config.timezone):
                    return f"updates stop: until: {every.until} is true"
            except Exception as exc:  # noqa: BLE001 - a broken condition must not spam updates
                return f"updates stop: until: {every.until} failed: {type(exc).__name__}: {exc}"
        return None

    # --- Phases and steps. ---

    def _phase(self, run: Any, pb: Playbook, incident: Any, phase: str, iteration: int,
               steps: list[Any], now: datetime) -> str:
        """Run a phase's steps in order: done | failed | held | busy | aborted."""
        with self.engine.connect() as conn:
            rows = ledger.step_rows(conn, run.id)
        context = None
        for index, step in enumerate(steps):
            where, kind = (phase, iteration, index), step_kind(step)
            row = rows.get(where)
            if row is not None and row.state == "waiting":
                outcome = self.effects.check_hold(run, row, now)
                if outcome != "done":
                    return outcome
                continue
            if row is not None and row.state in ledger.FINISHED:
                if row.state == "failed" and not step.continue_on_error:
                    return "failed"
                continue
            with transaction(self.engine) as conn:
                status, row = ledger.claim(conn, run.id, where, kind, now)
            if status != "claimed":
                return "held" if status == "waiting" else "busy"
            if context is None:
                number = iteration if phase == "every" else run.update_count
                context, down = self._context(run, incident, number, now)
            inp = StepInput(self.config, pb, context, f"{phase}/{iteration}/{index}", run.id,
                            now, down, self.audiences)
            state = self._execute(run, incident, row, inp, kind, step)
            if state == "waiting":
                return "held"
            if state == "failed" and not step.continue_on_error:
                self._skip_rest(run, phase, iteration, steps, index, now)
                return "failed"
        return "done"

    def _execute(self, run: Any, incident: Any, row: Any, inp: StepInput, kind: str,
                 step: Any) -> str:
        try:
            effect = plan_step(inp, kind, step)
            state, reason, detail = self.effects.apply(effect, run, incident, inp)
        except StepFailed as exc:
            state, reason, detail = "failed", str(exc), None
        except Exception as exc:  # noqa: BLE001 - recorded on the step for the operator
            log.exception("run %s step %s failed", run.id, inp.step_key)
            state, reason, detail = "failed", f"{type(exc).__name__}: {exc}", None
        with transaction(self.engine) as conn:
            ledger.finish(conn, row.id, state, reason, detail, inp.now)
            if state == "waiting" and kind == "approval":
                ledger.set_run(conn, run.id, state="waiting_approval")
                append_event(conn, run.incident_id, "approval_requested", inp.now, self.actor,
                             f"{reason} (approve with: orchestrator approve {run.id})",
                             {"run_id": run.id})
        return state

    def _skip_rest(self, run: Any, phase: str, iteration: int, steps: list[Any], failed: int,
                   now: datetime) -> None:
        with transaction(self.engine) as conn:
            for index in range(failed + 1, len(steps)):
                ledger.record(conn, run.id, (phase, iteration, index), step_kind(steps[index]),
                              "skipped", f"not run: step {failed} of {phase} failed", now)

    def _close(self, run: Any, pb: Playbook, now: datetime) -> str:
        """At resolution: stop the cadence and settle what on_start and `every` left open."""
        with self.engine.connect() as conn:
            rows = ledger.step_rows(conn, run.id)
        open_phases = [("on_start", 0, pb.on_start)]
        if pb.every is not None:
            number = run.update_count + 1
            if any(("every", number, i) in rows for i in range(len(pb.every.steps))):
                open_phases.append(("every", number, pb.every.steps))
        with transaction(self.engine) as conn:
            cadence = rows.get(ledger.CADENCE)
            if cadence is not None and cadence.state == "running":
                ledger.finish(conn, cadence.id, "done", "updates stop: incident resolved",
                              None, now)
                ledger.set_run(conn, run.id, next_update_at=None)
        for phase, iteration, steps in open_phases:
            for index, step in enumerate(steps):
                outcome = self.effects.settle_at_resolution(
                    run, rows.get((phase, iteration, index)), (phase, iteration, index),
                    step_kind(step), now)
                if outcome != "done":
                    return outcome
        return "done"

    def _failed_steps(self, run_id: int, pb: Playbook) -> list[str]:
        by_phase = {phase[0]: steps for phase, steps in pb.phases()}
        with self.engine.connect() as conn:
            rows = ledger.step_rows(conn, run_id)
        failed = []
        for (phase, iteration, index), row in sorted(rows.items()):
            steps = by_phase.get(phase, [])
            if row.state == "failed" and index < len(steps) \
                    and not steps[index].continue_on_error:
                failed.append(f"{phase}[{index}]" + (f"#{iteration}" if iteration else ""))
        return failed

    # --- Context. ---

    def _context(self, run: Any, incident: Any, update_number: int,
                 now: datetime) -> tuple[dict[str, Any], dict[str, str]]:
        with self.engine.connect() as conn:
            updates = ledger.operator_updates(conn, incident.id)
            states = {r.platform: r.state for r in conn.execute(select(platform_states))}
        facts = incident_facts(incident, updates)
        run_info = ctx.run_data(run.id, run.playbook, update_number, run.started_at)
        context = ctx.build_context(self.config, incident=facts, run=run_info,
                                    variables=run.vars or {}, states=states, now=now)
        return context, ctx.down_platforms(states, facts)

    def _state(self, run_id: int) -> str:
        with self.engine.connect() as conn:
            return ledger.get_run(conn, run_id).state

    def _playbook(self, name: str) -> Playbook:
        if name not in self.playbooks:
            raise RunnerError(unknown_name("playbook", name, self.playbooks))
        return self.playbooks[name]


def incident_facts(incident: Any, updates: list[Any]) -> ctx.IncidentFacts:
    return ctx.IncidentFacts(
        id=incident.id, title=incident.title, kind=incident.kind, state=incident.state,
        platform=incident.platform, platform_state=incident.platform_state,
        started_at=incident.started_at, resolved_at=incident.resolved_at,
        update_count=len(updates), last_update=updates[-1].message if updates else None)


def manual_title(config: Any, pb: Playbook, platform: str | None) -> str:
    """A manual incident's title: the playbook description's first sentence (or its name)."""
    first = (pb.description or pb.name).strip().split(". ")[0].rstrip(".")
    return f"{config.platform_label(platform)}: {first}" if platform else first
