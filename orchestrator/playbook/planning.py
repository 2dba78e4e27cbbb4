"""A dry run of a playbook: every step's effect described from the store, nothing written.

Used by `orchestrator plan` and `trigger --dry-run`. It calls the same step functions as
the runner, so what it shows is what a run would enqueue, pause and post.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, SecretStr
from sqlalchemy import func, select

from orchestrator.playbook import context as ctx
from orchestrator.playbook.model import step_kind
from orchestrator.playbook.ports import MemoryAudiences, StoreAudiences
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
    plan_step,
)

REDACTED = "********"


def secrets_of(value: Any) -> set[str]:
    """Every secret string held anywhere in a config (to scrub from what is printed)."""
    found: set[str] = set()
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        if len(secret) >= 4:
            found.add(secret)
    elif isinstance(value, dict):
        for item in value.values():
            found |= secrets_of(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= secrets_of(item)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found |= secrets_of(getattr(value, name))
    return found


class Simulation:
    """One playbook, one platform, now: what each phase would do."""

    def __init__(self, config: Any, pb: Any, *, platform: str | None, variables: dict,
                 engine: Any, now: datetime, outage: timedelta):
        self.config, self.pb, self.platform, self.engine = config, pb, platform, engine
        self.variables, self.now, self.outage = variables, now, outage
        self.audiences = StoreAudiences(engine) if engine is not None else MemoryAudiences()
        self.secrets = secrets_of(config)
        self.states = self._stored_states()
        self._messages: dict[tuple[str, str | None, str], list[str]] = {}

    def _stored_states(self) -> dict[str, str]:
        if self.engine is None:
            return {}
        from orchestrator.store.schema import platform_states
        with self.engine.connect() as conn:
            return {r.platform: r.state for r in conn.execute(select(platform_states))}

    def _incident(self, resolved: bool) -> ctx.IncidentFacts:
        from orchestrator.playbook.runner import manual_title

        return ctx.IncidentFacts(
            id=None, title=manual_title(self.config, self.pb, self.platform),
            kind="platform" if self.pb.trigger else "manual",
            state="resolved" if resolved else "open", platform=self.platform,
            platform_state="major_outage" if self.platform else None, started_at=self.now,
            resolved_at=self.now + self.outage if resolved else None)

    def down(self, resolved: bool = False) -> dict[str, str]:
        states = dict(self.states)
        if resolved and self.platform:
            states[self.platform] = "operational"
        return ctx.down_platforms(states, self._incident(resolved))

    def scrub(self, text: str | None) -> str | None:
        if text is None:
            return None
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    # --- Phases. ---

    def steps(self) -> list[dict[str, Any]]:
        out = []
        phases = [("on_start", self.pb.on_start, 0, False)]
        if self.pb.every:
            phases.append(("every", self.pb.every.steps, 1, False))
        phases.append(("on_resolve", self.pb.on_resolve, 1 if self.pb.every else 0, True))
        for phase, steps, number, resolved in phases:
            at = self.now + (self.outage if phase != "on_start" else timedelta(0))
            context = self._context(number, resolved, at)
            down = self.down(resolved)
            for index, step in enumerate(steps):
                inp = StepInput(self.config, self.pb, context, f"{phase}/{number}/{index}",
                                None, at, down, self.audiences)
                out.append({"phase": phase, "index": index, "kind": step_kind(step),
                            **self._describe(inp, phase, step)})
        return out

    def _context(self, number: int, resolved: bool, at: datetime) -> dict[str, Any]:
        run = ctx.run_data(None, self.pb.name, number, self.now)
        states = dict(self.states)
        if resolved and self.platform:
            states[self.platform] = "operational"
        return ctx.build_context(self.config, incident=self._incident(resolved), run=run,
                                 variables=self.variables, states=states, now=at)

    def _describe(self, inp: StepInput, phase: str, step: Any) -> dict[str, Any]:
        try:
            effect = plan_step(inp, step_kind(step), step)
        except StepFailed as exc:
            return {"outcome": "would fail", "detail": self.scrub(str(exc))}
        if isinstance(effect, Skipped):
            return {"outcome": "skipped", "detail": effect.reason}
        if isinstance(effect, Enqueue):
            return self._enqueue(effect, step, phase)
        if isinstance(effect, PausePosts):
            return {"outcome": "pause posts", "detail": effect.reason,
                    "posts": len(self.posts_matching(effect.selector))}
        if isinstance(effect, ResumePosts):
            return {"outcome": "resume posts", "detail": f"missed posts: {effect.missed}"}
        if isinstance(effect, TimelineEntry):
            return {"outcome": "status page", "detail": f"{effect.status}: "
                    f"{self.scrub(effect.message)}"}
        if isinstance(effect, HttpCall):
            return {"outcome": "webhook", "detail": f"{effect.method} "
                    f"{effect.url.split('?', 1)[0]}"}
        if isinstance(effect, Hold):
            if effect.kind == "approval":
                return {"outcome": "wait for approval", "detail": f"{self.scrub(effect.message)}"
                        f" (then {effect.on_timeout} after {effect.until - inp.now})"}
            return {"outcome": "wait", "detail": f"{effect.until - inp.now}"}
        return {"outcome": type(effect).__name__, "detail": ""}

    def _enqueue(self, effect: Enqueue, step: Any, phase: str) -> dict[str, Any]:
        for channel, (subject, body) in effect.messages.items():
            key = (channel, self.scrub(subject), self.scrub(body))
            self._messages.setdefault(key, []).append(phase)
        skipped = [{"channel": c, "reason": r} for c, r in effect.skipped]
        if getattr(step, "notify", None) is None:
            return {"outcome": "post", "detail": ", ".join(effect.channels),
                    "deliveries": [{"channel": c, "audience": None, "messages": 1}
                                   for c in effect.channels], "skipped": skipped}
        args = step.notify
        channel = effect.channels[0]
        counts = self._counts(channel, args.audience, effect, args.urgent)
        return {"outcome": "notify", "detail": f"{args.audience} over {channel}",
                "deliveries": [{"channel": channel, "audience": args.audience, **counts}],
                "skipped": skipped}

    def _counts(self, channel: str, audience: str, effect: Enqueue,
                urgent: bool) -> dict[str, int]:
        from orchestrator.audiences import quiet_until

        address = self._address_kind(channel)
        total = self._members(audience, address)
        deferred = 0
        quiet = self.config.quiet_hours
        if quiet is not None and channel in quiet.channels and not urgent:
            deferred = sum(1 for r in self.audiences.recipients(audience, address)
                           if quiet_until(self.now, r.timezone or self.config.timezone,
                                          quiet.start, quiet.end) is not None)
        messages = len(effect.rows)
        return {"members": total, "suppressed": max(total - messages, 0),
                "messages": messages, "deferred_quiet_hours": deferred,
                "now": messages - deferred}

    def _address_kind(self, channel: str) -> str:
        from channels.registry import channel_class
        return channel_class(self.config.channels[channel].kind).capabilities.address or "email"

    def _members(self, audience: str, address: str) -> int:
        if self.engine is None:
            return 0
        from orchestrator.store.schema import audience_members, contacts
        column = contacts.c.phone if address == "phone" else contacts.c.email
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(contacts).join(
                audience_members, audience_members.c.contact_id == contacts.c.id).where(
                audience_members.c.audience == audience, column.is_not(None))).scalar_one()

    def messages(self) -> list[dict[str, Any]]:
        """Each distinct rendered message once per channel (call after steps())."""
        return [{"channel": c, "subject": s, "body": b, "phases": sorted(set(p))}
                for (c, s, b), p in self._messages.items()]

    # --- Posts. ---

    def posts_to_pause(self) -> list[dict[str, Any]]:
        selected: dict[int, dict[str, Any]] = {}
        for step in self.pb.on_start:
            if step_kind(step) == "pause_posts":
                args = step.pause_posts
                selector = {"channels": args.channels, "platforms": args.platforms,
                            "campaigns": args.campaigns, "tags": args.tags, "all": args.all}
                for post in self.posts_matching(selector):
                    selected[post["id"]] = post
        return [selected[k] for k in sorted(selected)]

    def posts_matching(self, selector: dict[str, Any]) -> list[dict[str, Any]]:
        if self.engine is None:
            return []
        from orchestrator.store.schema import scheduled_posts as sp
        with self.engine.connect() as conn:
            rows = conn.execute(select(sp).where(sp.c.state == "scheduled")
                                .order_by(sp.c.publish_at, sp.c.id)).all()
        return [{"id": r.id, "channel": r.channel, "publish_at": r.publish_at,
                 "campaign": r.campaign, "text": self.scrub(r.text)}
                for r in rows if self._matches(r, selector)]

    def _matches(self, row: Any, selector: dict[str, Any]) -> bool:
        if selector.get("all"):
            return True
        channel = self.config.channels.get(row.channel)
        platforms = set(channel.depends_on) if channel is not None else set()
        return (row.channel in selector.get("channels", [])
                or bool(platforms & set(selector.get("platforms", [])))
                or (row.campaign is not None and row.campaign in selector.get("campaigns", []))
                or bool(set(row.tags or []) & set(selector.get("tags", []))))
