"""Calendar tests: database fixtures, a config whose channels point at one base URL, a clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from orchestrator.loader import load_config_file
from orchestrator.store.schema import incidents, playbook_runs
from tests.dbfixtures import db_url, engine, postgres_url_factory  # noqa: F401

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
MESSAGING_SERVICE = "MG" + "0" * 32

ENV = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "twilio-token",
    "SENDGRID_API_KEY": "SG.sandbox-key", "FACEBOOK_PAGE_TOKEN": "fb-token",
    "INSTAGRAM_TOKEN": "ig-token", "X_CONSUMER_KEY": "ck", "X_CONSUMER_SECRET": "cs",
    "X_ACCESS_TOKEN": "at", "X_ACCESS_TOKEN_SECRET": "ats", "MASTODON_TOKEN": "masto-token",
}

CONFIG = """\
storage: {storage}
platforms:
  facebook:  {{display_name: Facebook, family: meta}}
  instagram: {{display_name: Instagram, family: meta}}
  x:         {{display_name: X}}
  mastodon:  {{display_name: Mastodon}}
  twilio:    {{display_name: Twilio}}
  sendgrid:  {{display_name: SendGrid}}
channels:
  sms: {{kind: twilio, account_sid: "${{TWILIO_ACCOUNT_SID}}", auth_token: "${{TWILIO_AUTH_TOKEN}}",
        messaging_service_sid: "{service}", base_url: "{base}/twilio"}}
  email: {{kind: sendgrid, api_key: "${{SENDGRID_API_KEY}}", from: status@example.com,
          base_url: "{base}/sendgrid"}}
  facebook-page: {{kind: facebook, page_id: "1234567890",
                  page_access_token: "${{FACEBOOK_PAGE_TOKEN}}", base_url: "{base}/facebook"}}
  instagram: {{kind: instagram, ig_user_id: "17841400000000000",
              access_token: "${{INSTAGRAM_TOKEN}}", base_url: "{base}/facebook",
              default_image_url: "https://cdn.example.com/card.png",
              depends_on: [instagram, facebook]}}
  x: {{kind: x, consumer_key: "${{X_CONSUMER_KEY}}", consumer_secret: "${{X_CONSUMER_SECRET}}",
      access_token: "${{X_ACCESS_TOKEN}}", access_token_secret: "${{X_ACCESS_TOKEN_SECRET}}",
      base_url: "{base}/x"}}
  mastodon: {{kind: mastodon, base_url: "{base}/mastodon", token: "${{MASTODON_TOKEN}}",
             depends_on: [mastodon]}}
  old-blog: {{kind: webhook, url: "https://blog.example/hook", enabled: false}}
"""


def write_config(folder: Path, *, base: str = "http://127.0.0.1:9",
                 storage: str | None = None) -> Path:
    path = folder / "config.yaml"
    path.write_text(CONFIG.format(base=base, service=MESSAGING_SERVICE,
                                  storage=storage or f"sqlite:///{folder / 'unused.db'}"))
    return path


@pytest.fixture
def config(tmp_path):
    return load_config_file(write_config(tmp_path), env=ENV)


def make_run(eng, playbook: str = "meta-outage") -> int:
    """A playbook run row (scheduled_posts.pause_run_id points at one)."""
    with eng.begin() as conn:
        incident = conn.execute(insert(incidents).values(
            key=f"facebook:{playbook}", kind="platform", platform="facebook",
            title="Facebook is down", state="open", started_at=T0)).inserted_primary_key[0]
        return conn.execute(insert(playbook_runs).values(
            incident_id=incident, playbook=playbook, state="running",
            started_at=T0, update_count=0)).inserted_primary_key[0]
