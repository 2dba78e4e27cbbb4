"""Contacts import (bad rows by line), recipients minus suppressions, quiet hours, and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time

import pytest
from click.testing import CliRunner

from orchestrator.audiences import (
    BadRow,
    import_contacts,
    parse_row,
    quiet_until,
    recipients,
    suppress,
)
from orchestrator.cli import cli
from orchestrator.outbox import Outbox, OutboxRow

CSV = """name,phone,email,timezone,tags
Ada,+14155552671,ada@example.com,America/Los_Angeles,vip;na14
Bob,555-1234,bob@example.com,,
Cy,+447911123456,not-an-email,Europe/London,
Di,,di@example.com,Mars/Olympus,
Ed,,ed@example.com,,na14

Flo,+33612345678,,Europe/Paris,vip
"""


@pytest.fixture
def contacts_csv(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(CSV)
    return path


def test_import_reports_bad_rows_by_line_and_imports_the_rest(engine, contacts_csv):
    report = import_contacts(engine, contacts_csv, "customers")
    assert [(b.line, b.reason) for b in report.bad] == [
        (3, "phone '555-1234' is not in E.164 form (+ and country code)"),
        (4, "email 'not-an-email' is not valid: An email address must have an @-sign."),
        (5, "unknown time zone 'Mars/Olympus'"),
    ]
    assert (report.rows, report.created, report.updated) == (6, 3, 0)
    assert [r.address for r in recipients(engine, "customers", "sms")] == [
        "+14155552671", "+33612345678"]
    assert [r.address for r in recipients(engine, "customers", "email")] == [
        "ada@example.com", "ed@example.com"]
    # Importing again updates by phone/email instead of duplicating.
    again = import_contacts(engine, contacts_csv, "customers")
    assert (again.created, again.updated) == (0, 3)
    assert len(list(recipients(engine, "customers", "email"))) == 2


def test_recipients_leave_out_suppressed_addresses(engine, contacts_csv):
    import_contacts(engine, contacts_csv, "customers")
    assert suppress(engine, "sms", "+14155552671", "STOP", "twilio") is True
    assert suppress(engine, "sms", "+14155552671", "STOP", "twilio") is False
    assert [r.address for r in recipients(engine, "customers", "phone")] == ["+33612345678"]
    # ...and enqueuing to a suppressed address records it as suppressed, never pending.
    box = Outbox(engine)
    box.enqueue([OutboxRow("sms", "+14155552671", "hi", "k1")])
    assert box.counts() == {"suppressed": 1}


def test_parse_row_normalises_and_needs_an_address():
    good = parse_row(2, {"name": " Ada ", "phone": "+1 415 555 2671", "email": "Ada@Example.com",
                         "tags": "a; b,c", "timezone": ""})
    assert (good.phone, good.email, good.tags) == ("+14155552671", "Ada@example.com",
                                                   ("a", "b", "c"))
    assert parse_row(9, {"name": "x"}) == BadRow(9, "needs a phone or an email")


@pytest.mark.parametrize(("now", "zone", "expected"), [
    pytest.param(datetime(2026, 11, 23, 3, 30, tzinfo=UTC), "America/New_York",
                 datetime(2026, 11, 23, 13, 0, tzinfo=UTC), id="late-evening"),
    pytest.param(datetime(2026, 11, 23, 10, 0, tzinfo=UTC), "America/New_York",
                 datetime(2026, 11, 23, 13, 0, tzinfo=UTC), id="early-morning"),
    pytest.param(datetime(2026, 11, 23, 15, 0, tzinfo=UTC), "America/New_York", None,
                 id="daytime"),
    pytest.param(datetime(2026, 11, 23, 21, 0, tzinfo=UTC), None,
                 datetime(2026, 11, 24, 8, 0, tzinfo=UTC), id="no-zone-is-utc"),
])
def test_quiet_until(now, zone, expected):
    assert quiet_until(now, zone, time(21, 0), time(8, 0)) == expected


@pytest.fixture
def cli_store(tmp_path, monkeypatch, db_url):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCHESTRATOR_STORAGE", db_url)
    return db_url


def test_cli_contacts_import_prints_bad_lines_and_exits_1(cli_store, contacts_csv):
    result = CliRunner().invoke(cli, ["contacts", "import", str(contacts_csv),
                                      "--audience", "customers"])
    assert result.exit_code == 1
    assert f"{contacts_csv}:3: phone '555-1234' is not in E.164 form" in result.output
    assert "customers: 3 of 6 row(s) imported (3 new, 0 updated), 3 bad" in result.output


def test_cli_outbox_list_and_retry(cli_store, engine):
    box = Outbox(engine)
    box.enqueue([OutboxRow("sms", "+14155552671", "hi", "k1"),
                 OutboxRow("sms", "+14155552672", "hi", "k2")])
    (claim, _) = box.claim("test", limit=2)
    from orchestrator.outbox import Settlement
    box.settle([Settlement(claim, "failed", error="boom")])
    runner = CliRunner()
    listed = runner.invoke(cli, ["outbox", "list", "--state", "failed", "--json"])
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.output)
    assert data["counts"] == {"failed": 1, "in_flight": 1}
    assert [r["idempotency_key"] for r in data["rows"]] == ["k1"]
    assert runner.invoke(cli, ["outbox", "retry"]).exit_code == 2
    refused = runner.invoke(cli, ["outbox", "retry", "2"])
    assert refused.exit_code == 1 and "is in_flight" in refused.output
    retried = runner.invoke(cli, ["outbox", "retry", "--failed"])
    assert retried.exit_code == 0 and retried.output.startswith("1 row(s) back to pending")
    assert box.counts() == {"pending": 1, "in_flight": 1}
    table = runner.invoke(cli, ["outbox", "list"])
    assert "pending: 1" in table.output
