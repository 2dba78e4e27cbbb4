"""The dispatcher against the real SDKs and the provider sandbox, counted at the sandbox."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time

import pytest
from sqlalchemy import insert, select

from orchestrator.delivery import LanePolicy
from orchestrator.dispatcher import Dispatcher, QuietWindow
from orchestrator.outbox import Outbox, OutboxRow, idempotency_key
from orchestrator.ratelimit import Backoff
from orchestrator.store.schema import contacts, outbox, platform_states, suppressions
from tests.outbox.sandboxed import phone, sendgrid, twilio

FAST = Backoff(initial=0.05, maximum=0.5, jitter=0.05)


def sms_rows(n: int, channel: str = "sms", **extra) -> list[OutboxRow]:
    return [OutboxRow(channel, phone(i), f"Facebook is down. Update {i % 3}",
                      idempotency_key(1, "on_start.0", channel, phone(i)), **extra)
            for i in range(n)]


def twilio_counts(sandbox) -> Counter:
    return Counter(m["to"] for m in sandbox.twilio.messages())


async def drain(engine, channels, **kwargs):
    kwargs.setdefault("backoff", FAST)
    dispatcher = Dispatcher(engine, channels, poll_interval=0.02, **kwargs)
    try:
        return await dispatcher.run_until_idle(horizon=10)
    finally:
        await dispatcher.aclose()


async def test_fan_out_sends_each_row_once_and_records_provider_ids(engine, sandbox):
    box = Outbox(engine)
    assert box.enqueue(sms_rows(60)) == 60
    assert box.enqueue(sms_rows(60)) == 0  # the same keys again: nothing new
    stats = await drain(engine, {"sms": twilio(sandbox.base_url("twilio"))},
                        policies={"sms": LanePolicy(rate=None, concurrency=8)})
    assert stats.sent == 60
    assert twilio_counts(sandbox) == {phone(i): 1 for i in range(60)}
    rows = box.rows(limit=None)
    assert {r["state"] for r in rows} == {"sent"}
    sids = {m["sid"] for m in sandbox.twilio.messages()}
    assert {r["provider_id"] for r in rows} == sids


@pytest.mark.slow
async def test_storm_of_429s_is_ridden_out_without_sending_before_the_reset(engine, sandbox):
    Outbox(engine).enqueue(sms_rows(40))
    # Twelve 429s in a row, each saying "come back in 1 s" (Twilio's bare Retry-After).
    sandbox.script.rate_limit("twilio", retry_after=1, times=12, method="POST")
    stats = await drain(engine, {"sms": twilio(sandbox.base_url("twilio"))},
                        policies={"sms": LanePolicy(rate=None, concurrency=4)})
    assert twilio_counts(sandbox) == {phone(i): 1 for i in range(40)}
    assert stats.sent == 40
    posts = sandbox.requests("twilio", method="POST")
    limited = [r for r in posts if r.status == 429]
    assert len(limited) == 12
    for refusal in limited:
        reset = refusal.at + float(refusal.response_headers["retry-after"])
        # Requests already on the wire when the 429 came back arrive within a few ms of
        # it; anything later must wait for the stated reset.
        early = [r for r in posts if refusal.at + 0.15 < r.at < reset]
        assert early == [], f"{len(early)} requests before the reset at {reset}"


async def test_opted_out_number_gets_one_attempt_and_is_suppressed(engine, sandbox):
    Outbox(engine).enqueue(sms_rows(5))
    sandbox.script.reject("twilio", phone(2), 21610)
    stats = await drain(engine, {"sms": twilio(sandbox.base_url("twilio"))})
    assert stats.sent == 4 and stats.suppressed == 1
    to_opted_out = [r for r in sandbox.requests("twilio", method="POST")
                    if r.form.get("To") == phone(2)]
    assert len(to_opted_out) == 1
    with engine.connect() as conn:
        assert conn.execute(select(suppressions.c.address_kind, suppressions.c.address)
                            ).all() == [("sms", phone(2))]
        state = conn.execute(select(outbox.c.state, outbox.c.attempts)
                             .where(outbox.c.recipient == phone(2))).one()
    assert tuple(state) == ("suppressed", 1)  # exactly one attempt
    # Enqueued again later (another run), the suppression holds before any send.
    assert Outbox(engine).enqueue([OutboxRow("sms", phone(2), "again", "run2:sms:x")]) == 1
    await drain(engine, {"sms": twilio(sandbox.base_url("twilio"))})
    assert len(sandbox.twilio.messages(to=phone(2))) == 0


async def test_email_fan_out_of_2500_makes_exactly_three_calls(engine, sandbox):
    rows = [OutboxRow("email", f"user{i}@example.com", "Facebook is down; we are on it.",
                      idempotency_key(7, "notify", "email", f"user{i}@example.com"),
                      subject="Service update") for i in range(2500)]
    assert Outbox(engine).enqueue(rows) == 2500
    stats = await drain(engine, {"email": sendgrid(sandbox.base_url("sendgrid"))})
    assert stats.sent == 2500
    calls = sandbox.requests("sendgrid", path_contains="/v3/mail/send")
    assert len(calls) == 3
    assert sorted(len(c.json["personalizations"]) for c in calls) == [500, 1000, 1000]
    assert sorted(sandbox.sendgrid.recipients()) == sorted(r.recipient for r in rows)


async def test_failover_to_email_when_twilio_is_in_major_outage(engine, sandbox):
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(platform_states), [{"platform": "twilio", "state": "major_outage",
                                                "since": now, "updated_at": now}])
        ids = [conn.execute(insert(contacts).values(phone=phone(i), email=f"c{i}@example.com",
                                                    created_at=now).returning(contacts.c.id))
               .scalar_one() for i in range(3)]
    Outbox(engine).enqueue([
        OutboxRow("sms", phone(i), "Twilio is down", f"r1:s1:sms:{phone(i)}",
                  contact_id=ids[i], fallback=("email",)) for i in range(3)])
    channels = {"sms": twilio(sandbox.base_url("twilio")),
                "email": sendgrid(sandbox.base_url("sendgrid"))}
    stats = await drain(engine, channels)
    assert stats.failed_over == 3 and stats.sent == 3
    assert sandbox.requests("twilio") == []
    assert sorted(sandbox.sendgrid.recipients()) == [f"c{i}@example.com" for i in range(3)]
    rows = {(r["channel"], r["state"]): r for r in Outbox(engine).rows(limit=None)}
    assert rows[("sms", "failed")]["last_error"].startswith("failed over to email")
    assert rows[("email", "sent")]["idempotency_key"].endswith(">email")


async def test_permanent_failure_fails_over_and_dead_letters_without_fallback(engine, sandbox):
    now = datetime.now(UTC)
    with engine.begin() as conn:
        cid = conn.execute(insert(contacts).values(phone=phone(1), email="p@example.com",
                                                   created_at=now).returning(contacts.c.id)
                           ).scalar_one()
    sandbox.script.reject("twilio", phone(1), 21211)
    sandbox.script.reject("twilio", phone(2), 21211)
    Outbox(engine).enqueue([
        OutboxRow("sms", phone(1), "hi", "k1", contact_id=cid, fallback=("email",)),
        OutboxRow("sms", phone(2), "hi", "k2")])
    channels = {"sms": twilio(sandbox.base_url("twilio")),
                "email": sendgrid(sandbox.base_url("sendgrid"))}
    stats = await drain(engine, channels)
    assert (stats.failed_over, stats.failed, stats.sent) == (1, 1, 1)
    assert sandbox.sendgrid.recipients() == ["p@example.com"]
    assert len(sandbox.requests("twilio", method="POST")) == 2  # one attempt each


async def test_transient_errors_retry_then_dead_letter(engine, sandbox):
    Outbox(engine).enqueue([OutboxRow("sms", phone(1), "hi", "k1", max_attempts=3)])
    sandbox.script.fail("twilio", 500, times=None, method="POST")
    stats = await drain(engine, {"sms": twilio(sandbox.base_url("twilio"))})
    assert stats.failed == 1 and stats.retried == 2
    assert len(sandbox.requests("twilio", method="POST")) == 3
    (row,) = Outbox(engine).rows()
    assert row["state"] == "failed" and row["attempts"] == 3
    assert row["last_error"].startswith("gave up after 3 attempts")


async def test_quiet_hours_defer_non_urgent_sms_to_local_morning(engine, sandbox):
    now = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)   # 22:30 in New York, 04:30 in Paris
    with engine.begin() as conn:
        ny = conn.execute(insert(contacts).values(phone=phone(1), timezone="America/New_York",
                                                  created_at=now).returning(contacts.c.id)
                          ).scalar_one()
        paris = conn.execute(insert(contacts).values(phone=phone(2), timezone="Europe/Paris",
                                                     created_at=now).returning(contacts.c.id)
                             ).scalar_one()
    Outbox(engine).enqueue([
        OutboxRow("sms", phone(1), "hi", "k1", contact_id=ny),
        OutboxRow("sms", phone(2), "hi", "k2", contact_id=paris),
        OutboxRow("sms", phone(3), "urgent", "k3", contact_id=ny, urgent=True)], now=now)
    quiet = QuietWindow(time(21, 0), time(8, 0), frozenset({"sms"}))
    stats = await drain(engine, {"sms": twilio(sandbox.base_url("twilio"))}, quiet=quiet,
                        clock=lambda: now)
    assert (stats.sent, stats.deferred) == (1, 2)
    assert [m["to"] for m in sandbox.twilio.messages()] == [phone(3)]
    due = {r["recipient"]: r["next_attempt_at"] for r in Outbox(engine).rows()}
    assert due[phone(1)] == datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 08:00 EST
    assert due[phone(2)] == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)   # 08:00 CET


async def test_on_send_hears_every_provider_answer_with_its_latency(engine, sandbox):
    from orchestrator.web.metrics import Metrics

    Outbox(engine).enqueue(sms_rows(5))
    sandbox.script.reject("twilio", phone(2), 21610)
    sandbox.script.fail("twilio", 503, method="POST")      # one send to try again
    sandbox.script.slow("twilio", 0.3, method="POST")      # and one slow answer
    heard: list[tuple[str, str, float]] = []
    metrics = Metrics()

    def on_send(channel: str, outcome: str, seconds: float) -> None:
        heard.append((channel, outcome, seconds))
        metrics.observe_send(channel, outcome, seconds)

    stats = await drain(engine, {"sms": twilio(sandbox.base_url("twilio"))}, on_send=on_send,
                        policies={"sms": LanePolicy(rate=None, concurrency=1)})
    assert stats.sent == 4 and stats.suppressed == 1
    assert len(sandbox.requests("twilio", method="POST")) == 6 == len(heard)
    assert Counter((c, o) for c, o, _ in heard) == {
        ("sms", "sent"): 4, ("sms", "suppressed"): 1, ("sms", "retry"): 1}
    assert max(s for _, _, s in heard) >= 0.3
    assert all(s >= 0 for _, _, s in heard)

    def sends(outcome: str) -> float | None:
        return metrics.registry.get_sample_value(
            "orchestrator_sends_total", {"channel": "sms", "outcome": outcome})

    assert (sends("sent"), sends("suppressed"), sends("retry")) == (4, 1, 1)
    assert metrics.registry.get_sample_value(
        "orchestrator_send_latency_seconds_count", {"channel": "sms"}) == 6


async def test_a_failing_on_send_hook_never_stops_a_send(engine, sandbox, caplog):
    Outbox(engine).enqueue(sms_rows(3))

    def broken(channel: str, outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics are down")

    stats = await drain(engine, {"sms": twilio(sandbox.base_url("twilio"))}, on_send=broken)
    assert stats.sent == 3
    assert {r["state"] for r in Outbox(engine).rows()} == {"sent"}
    assert caplog.text.count("on_send hook failed") == 3
