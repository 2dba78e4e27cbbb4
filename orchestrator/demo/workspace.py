"""The demo's files and data: a config and playbook in a temp dir, the audience and the calendar."""

from __future__ import annotations

import csv
import socket
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from orchestrator.durations import parse_duration

SPEED = 6  # demo time runs this many times faster than the wall clock

# Fake but well-formed credentials: the sandboxes check their shape, never their value.
SECRETS = {
    "DEMO_API_TOKEN": "demo-ops-token",
    "DEMO_TWILIO_ACCOUNT_SID": "AC" + "d" * 32,
    "DEMO_TWILIO_AUTH_TOKEN": "demo-twilio-auth-token",
    "DEMO_SENDGRID_API_KEY": "SG.demo-key.demo-secret",
    "DEMO_FACEBOOK_PAGE_TOKEN": "EAAdemo-page-token",
    "DEMO_INSTAGRAM_TOKEN": "IGdemo-token",
    "DEMO_X_CONSUMER_KEY": "demo-consumer-key",
    "DEMO_X_CONSUMER_SECRET": "demo-consumer-secret",
    "DEMO_X_ACCESS_TOKEN": "1234567890-demo-access-token",
    "DEMO_X_ACCESS_TOKEN_SECRET": "demo-access-token-secret",
    "DEMO_LINKEDIN_TOKEN": "AQXdemo-linkedin-token",
    "DEMO_MASTODON_TOKEN": "demo-mastodon-token",
}


@dataclass(frozen=True)
class Workspace:
    folder: Path
    config: Path
    status_url: str


def _resource(name: str) -> str:
    return files("orchestrator.demo").joinpath(name).read_text(encoding="utf-8")


def free_port() -> int:
    """A port nothing listens on now (the daemon binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_workspace(folder: Path, sandbox_url: str, port: int | None = None) -> Workspace:
    """The config and playbook, filled in with the sandbox's and the daemon's URLs."""
    port = port or free_port()
    status_url = f"http://127.0.0.1:{port}/"
    values = {"@DIR@": str(folder), "@PORT@": str(port), "@SANDBOX@": sandbox_url,
              "@SPEED@": str(SPEED), "@STATUS_URL@": status_url}
    (folder / "playbooks").mkdir(parents=True, exist_ok=True)
    config = folder / "config.yaml"
    for name, target in (("config.yaml", config),
                         ("playbook.yaml", folder / "playbooks/meta-outage.yaml")):
        text = _resource(name)
        for key, value in values.items():
            text = text.replace(key, value)
        target.write_text(text, encoding="utf-8")
    return Workspace(folder, config, status_url)


def load_audience(engine: Engine, folder: Path) -> dict[str, int]:
    """Everyone into `customers`, the rows tagged vip into `vip` too; contacts per audience."""
    from orchestrator.audiences import import_contacts

    everyone = folder / "audience.csv"
    everyone.write_text(_resource("audience.csv"), encoding="utf-8")
    with everyone.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    vip = folder / "vip.csv"
    with vip.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if "vip" in r["tags"])
    sizes = {}
    for audience, path in (("customers", everyone), ("vip", vip)):
        report = import_contacts(engine, path, audience)
        if report.bad:
            raise RuntimeError(f"demo audience {audience}: " + "; ".join(map(str, report.bad)))
        sizes[audience] = report.imported
    return sizes


def calendar_rows(now: datetime) -> list[dict[str, Any]]:
    """The demo calendar, due at `now` plus each row's delay (in demo time)."""
    rows = list(csv.DictReader(_resource("calendar.csv").splitlines()))
    return [{"channel": r["channel"], "text": r["text"], "campaign": r["campaign"],
             "publish_at": now + parse_duration(r["due_after_outage"])} for r in rows]


def load_calendar(engine: Engine, config: Any, now: datetime) -> int:
    """Schedule the demo calendar through the content calendar's own `add_post`."""
    from orchestrator.posts import add_post

    rows = calendar_rows(now)
    for row in rows:
        add_post(engine, config, by="demo", **row)
    return len(rows)
