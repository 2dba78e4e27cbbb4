"""What the demo checks: messages counted at the sandboxes, and the records in the store."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from orchestrator.store.schema import incidents, platform_states, playbook_runs, scheduled_posts

# provider -> (path fragment, what one accepted request delivers)
ENDPOINTS = {
    "twilio": "Messages.json",
    "sendgrid": "/v3/mail/send",
    "x": "/2/tweets",
    "linkedin": "/rest/posts",
    "mastodon": "/api/v1/statuses",
    "facebook": "/feed",
}


@dataclass(frozen=True)
class Counts:
    """Accepted requests per provider, and messages (SendGrid: recipients) per provider."""

    requests: dict[str, int]
    messages: dict[str, int]

    def __getitem__(self, provider: str) -> int:
        return self.messages.get(provider, 0)


def _recipients(body: bytes) -> int:
    try:
        data = json.loads(body)
    except ValueError:
        return 0
    return sum(len(p.get("to", [])) for p in data.get("personalizations", []))


def count_sandbox(sandbox: Any) -> Counts:
    """Successful POSTs per provider, as the sandboxes recorded them."""
    requests, messages = Counter(), Counter()
    for provider, fragment in ENDPOINTS.items():
        for request in sandbox.requests(provider, fragment, "POST"):
            if request.status is None or request.status >= 300:
                continue
            requests[provider] += 1
            messages[provider] += _recipients(request.body) if provider == "sendgrid" else 1
    return Counts(dict(requests), dict(messages))


def platform(engine: Engine, name: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(platform_states)
                            .where(platform_states.c.platform == name)).first()


def incident_of(engine: Engine, name: str) -> Any:
    """The platform's latest incident (open or resolved), or None."""
    with engine.connect() as conn:
        return conn.execute(select(incidents).where(incidents.c.platform == name)
                            .order_by(incidents.c.id.desc()).limit(1)).first()


def incident_states(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(incidents.c.state, func.count()).group_by(incidents.c.state))
        return dict(rows.all())


def updates_sent(engine: Engine) -> int:
    """`every` updates the runs have finished."""
    with engine.connect() as conn:
        total = conn.execute(select(func.sum(playbook_runs.c.update_count))).scalar()
    return int(total or 0)


def posts_by_state(engine: Engine) -> dict[tuple[str, str], int]:
    """(channel, state) -> posts."""
    with engine.connect() as conn:
        query = (select(scheduled_posts.c.channel, scheduled_posts.c.state, func.count())
                 .group_by(scheduled_posts.c.channel, scheduled_posts.c.state))
        return {(channel, state): n for channel, state, n in conn.execute(query)}


def ever_paused(engine: Engine) -> int:
    """Posts that a pause touched (they keep who paused them after they are resumed)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(scheduled_posts)
                                .where(scheduled_posts.c.paused_at.is_not(None))).scalar_one())


def summarize_posts(by_state: dict[tuple[str, str], int], state: str) -> str:
    parts = [f"{n} on {channel}" for (channel, s), n in sorted(by_state.items()) if s == state]
    return ", ".join(parts) or "none"
