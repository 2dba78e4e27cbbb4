"""Applies step effects durably (outbox, calendar, timeline, webhooks) and settles holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.incidents import append_event, transaction
from orchestrator.playbook import ledger
from orchestrator.playbook.steps import (
    Enqueue,
    Hold,
    HttpCall,
    PausePosts,
    ResumePosts,
    Skipped,
    StepFailed,
    StepInput,
    TimelineEntry,
)
from orchestrator.statuspage import add_entry

Outcome = tuple[str, str, dict[str, Any] | None]   # (step state, reason, detail)
WEBHOOK_TIMEOUT_S = 10.0


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _redact_url(url: str) -> str:
    # Webhook URLs often carry their token in the query: keep it out of the record.
    return url.split("?", 1)[0] + ("?…" if "?" in url else "")


class EffectApplier:
    """Makes one effect durable; returns the step's outcome."""

    def __init__(self, engine: Any, *, outbox: Any, calendar: Any, http: Any, actor: str):
        self.engine, self.outbox, self.calendar = engine, outbox, calendar
        self.http, self.actor = http, actor

    def apply(self, effect: Any, run: Any, incident: Any, inp: StepInput) -> Outcome:
        if isinstance(effect, Skipped):
            return "skipped", effect.reason, None
        if isinstance(effect, Enqueue):
            return self._enqueue(effect, inp)
        by = f"run:{run.id}"
        if isinstance(effect, PausePosts):
            ids = self.calendar.pause(effect.selector, reason=effect.reason, by=by,
                                      run_id=run.id, now=inp.now)
            return "done", f"paused {_plural(len(ids), 'post')}", {"post_ids": list(ids)}
        if isinstance(effect, ResumePosts):
            report = self.calendar.resume(effect.selector, missed=effect.missed, by=by,
                                          run_id=run.id, now=inp.now)
            return "done", f"resumed posts ({effect.missed})", {"report": _plain(report)}
        if isinstance(effect, TimelineEntry):
            with transaction(self.engine) as conn:
                add_entry(conn, incident.id, effect.message, effect.status, inp.now, by,
                          source=f"run:{run.id}:{inp.step_key}")
            return "done", f"status page: {effect.status}", {"message": effect.message}
        if isinstance(effect, HttpCall):
            return self._webhook(effect)
        if isinstance(effect, Hold):
            detail = {"kind": effect.kind, "until": effect.until.isoformat(),
                      "on_timeout": effect.on_timeout, "message": effect.message}
            reason = (f"waiting for approval until {effect.until.isoformat()}: {effect.message}"
                      if effect.kind == "approval" else
                      f"waiting until {effect.until.isoformat()}")
            return "waiting", reason, detail
        raise TypeError(f"unknown effect {effect!r}")

    def _enqueue(self, effect: Enqueue, inp: StepInput) -> Outcome:
        new = self.outbox.enqueue(effect.rows, now=inp.now)
        skipped = dict(effect.skipped)
        reason = (f"{_plural(len(effect.rows), 'message')} queued for "
                  f"{', '.join(effect.channels)}")
        if skipped:
            reason += "; skipped: " + "; ".join(skipped.values())
        detail = {"channels": list(effect.channels), "messages": len(effect.rows), "new": new,
                  "skipped": skipped}
        return "done", reason, detail

    def _webhook(self, call: HttpCall) -> Outcome:
        import httpx

        client = self.http or httpx.Client(timeout=WEBHOOK_TIMEOUT_S)
        try:
            response = client.request(call.method, call.url, json=call.body,
                                      headers=dict(call.headers))
        except httpx.HTTPError as exc:
            raise StepFailed(f"webhook {call.method} {_redact_url(call.url)}: "
                             f"{type(exc).__name__}: {exc}") from None
        finally:
            if self.http is None:
                client.close()
        if response.status_code >= 400:
            raise StepFailed(f"webhook {call.method} {_redact_url(call.url)} answered "
                             f"{response.status_code}: {response.text[:200]}")
        return "done", f"webhook answered {response.status_code}", {
            "status": response.status_code}

    # --- Holds. ---

    def check_hold(self, run: Any, row: Any, now: datetime) -> str:
        """A waiting step: still held ("held"), over ("done"), or the run aborted."""
        detail = row.detail or {}
        until = datetime.fromisoformat(detail["until"])
        if now < until:
            return "held"
        if detail.get("kind") == "wait":
            with transaction(self.engine) as conn:
                ledger.finish(conn, row.id, "done", f"waited until {until.isoformat()}",
                              detail, now, expect="waiting")
            return "done"
        return self._timeout(run, row, now, "approval timed out")

    def _timeout(self, run: Any, row: Any, now: datetime, why: str) -> str:
        detail = row.detail or {}
        action = detail.get("on_timeout", "abort")
        with transaction(self.engine) as conn:
            if action == "proceed":
                if ledger.finish(conn, row.id, "done", f"{why}; on_timeout: proceed", detail,
                                 now, expect="waiting"):
                    ledger.set_run(conn, run.id, state="running")
                    append_event(conn, run.incident_id, "approval_timeout", now, self.actor,
                                 f"run {run.id}: {why}; proceeding", {"run_id": run.id})
                return "done"
            if ledger.finish(conn, row.id, "failed", f"{why}; on_timeout: abort", detail, now,
                             expect="waiting"):
                ledger.finish_run(conn, run.id, "aborted", now, self.actor,
                                  f"run {run.id} ({run.playbook}) aborted: {why}")
        return "aborted"

    def settle_at_resolution(self, run: Any, row: Any, where: tuple[str, int, int],
                             kind: str, now: datetime) -> str:
        """End one not-yet-finished step of on_start/every because the incident resolved."""
        if row is None:
            with transaction(self.engine) as conn:
                ledger.record(conn, run.id, where, kind, "skipped",
                              "incident resolved before this step ran", now)
            return "done"
        if row.state in ledger.FINISHED:
            return "done"
        if row.state == "waiting":
            if (row.detail or {}).get("kind") == "approval":
                return self._timeout(run, row, now, "incident resolved before approval")
            with transaction(self.engine) as conn:
                ledger.finish(conn, row.id, "skipped", "incident resolved while waiting",
                              row.detail, now, expect="waiting")
            return "done"
        if row.started_at is not None and row.started_at + ledger.STEP_LEASE > now:
            return "busy"   # another runner is executing it right now
        with transaction(self.engine) as conn:
            ledger.finish(conn, row.id, "skipped", "incident resolved before this step "
                          "finished", row.detail, now)
        return "done"


def _plain(value: Any) -> Any:
    """A calendar report as JSON-able data."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
