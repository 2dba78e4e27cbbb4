"""The mentions monitor: X-style count series and polled counts, with a daily-cycle baseline."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from orchestrator.monitors.mentions import MentionsConfig, MentionsMonitor

HOUR = timedelta(hours=1)
NOW = datetime(2024, 10, 8, 15, 40, tzinfo=UTC)


def daily(at: datetime, low: float = 30_000, high: float = 50_000) -> float:
    """Mentions per hour for a Salesforce instance: low at 03:00 UTC, high at 15:00 UTC."""
    phase = math.cos((at.hour - 15) / 24 * 2 * math.pi)
    wobble = 1 + 0.03 * math.sin(at.day * 7 + at.hour)  # a little noise, deterministic
    return (low + (high - low) * (1 + phase) / 2) * wobble


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def series(now: datetime, current: float | None = None, days: int = 7) -> dict:
    """GET /2/tweets/counts/recent?granularity=hour: 7 days of hourly buckets up to `now`,
    the last one cut off at `now`; `current` replaces the current hour's full-hour rate."""
    start = now.replace(minute=0, second=0, microsecond=0) - days * 24 * HOUR
    data = []
    while start < now:
        end = min(start + HOUR, now)
        rate = current if (current is not None and end == now) else daily(start)
        data.append({"end": iso(end), "start": iso(start),
                     "tweet_count": round(rate * (end - start) / HOUR)})
        start += HOUR
    return {"data": data, "meta": {"total_tweet_count": sum(d["tweet_count"] for d in data)}}


class Counts:
    def __init__(self, payload: dict):
        self.payload = payload

    async def handle(self, request: web.Request) -> web.Response:
        assert request.query["query"] == "NA14"
        return web.json_response(self.payload)


async def na14(serve, payload: dict, clock=lambda: NOW, **extra) -> tuple[MentionsMonitor, Counts]:
    counts = Counts(payload)
    base = await serve({"/2/tweets/counts/recent": counts.handle})
    config = MentionsConfig(name="na14-mentions", platform="salesforce-na14", kind="mentions",
                            url=f"{base}/2/tweets/counts/recent?query=NA14&granularity=hour",
                            **extra)
    return MentionsMonitor(config, clock=clock), counts


async def test_salesforce_na14_peak_is_a_spike(serve, client):
    """Reference story: a 30-50K/hour baseline, more than 100K/hour at the peak."""
    monitor, _ = await na14(serve, series(NOW, current=112_000), spike_ratio=2.0, min_count=500)
    obs = await monitor.check(client)
    assert (obs.ok, obs.state) == (True, "partial_outage")
    assert obs.detail["spike"] is True and obs.detail["extrapolated"] is True
    assert 108_000 <= obs.detail["count"] <= 116_000  # 40 minutes of it, scaled to the hour
    assert 45_000 <= obs.detail["baseline"] <= 52_000
    assert obs.detail["method"] == "same time of day over 7 days"
    assert obs.reason.startswith("spike: ") and obs.reason.endswith("≥ 2×")


async def test_an_ordinary_afternoon_is_not_a_spike(serve, client):
    monitor, _ = await na14(serve, series(NOW), spike_ratio=2.0, min_count=500)
    obs = await monitor.check(client)
    assert (obs.state, obs.detail["spike"]) == ("operational", False)
    assert 0.9 <= obs.detail["ratio"] <= 1.1


async def test_the_daily_cycle_does_not_hide_a_night_spike(serve, client):
    """At 03:00 the usual rate is 30K; 70K is a spike against the same hour on past days,
    though not against a rolling median that mixes in the busy afternoons (about 40K)."""
    night = datetime(2024, 10, 8, 3, 45, tzinfo=UTC)
    monitor, _ = await na14(serve, series(night, current=70_000), spike_ratio=2.0,
                            clock=lambda: night)
    same_time = await monitor.check(client)
    short, _ = await na14(serve, series(night, current=70_000, days=1), spike_ratio=2.0,
                          clock=lambda: night)
    rolling = await short.check(client)
    assert (same_time.state, same_time.detail["ratio"] > 2) == ("partial_outage", True)
    assert rolling.detail["method"] == "rolling median of 24 windows"
    assert (rolling.state, rolling.detail["ratio"] < 2) == ("operational", True)


async def test_min_count_guards_small_numbers(serve, client):
    quiet = series(NOW, current=90)
    for bucket in quiet["data"][:-1]:
        bucket["tweet_count"] = 20
    monitor, _ = await na14(serve, quiet, min_count=100)
    obs = await monitor.check(client)
    assert obs.state == "operational"
    assert obs.reason.endswith("but below the minimum of 100")


async def test_a_barely_started_hour_is_not_judged(serve, client):
    early = NOW.replace(minute=5)
    monitor, _ = await na14(serve, series(early, current=500_000), clock=lambda: early)
    obs = await monitor.check(client)  # 5 minutes of data: the previous full hour is judged
    assert obs.detail["window_start"] == "2024-10-08T14:00:00+00:00"
    assert (obs.state, obs.detail["extrapolated"]) == ("operational", False)


async def test_count_shape_learns_over_polls(serve, client):
    now = [datetime(2024, 10, 1, 0, 30, tzinfo=UTC)]
    monitor, counts = await na14(serve, {"count": 0}, clock=lambda: now[0], shape="count")
    for _ in range(3 * 24):  # three days of hourly polls
        counts.payload = {"count": round(daily(now[0]))}
        obs = await monitor.check(client)
        assert obs.state == "operational", obs.reason
        now[0] += HOUR
    assert obs.detail["method"] == "same time of day over 2 days"
    saved = json.loads(json.dumps(monitor.state_dict()))
    restarted, counts = await na14(serve, {"count": 120_000}, clock=lambda: now[0],
                                   shape="count")
    restarted.load_state(saved)
    obs = await restarted.check(client)
    assert (obs.state, obs.detail["spike"]) == ("partial_outage", True)
    assert obs.detail["method"] == "same time of day over 3 days"


async def test_count_shape_says_it_is_learning(serve, client):
    monitor, _ = await na14(serve, {"count": 10}, shape="count")
    obs = await monitor.check(client)
    assert (obs.ok, obs.state) == (True, "operational")
    assert obs.reason == "10 mentions; baseline learning: 0 of 3 windows"


@pytest.mark.parametrize("payload, shape, reason", [
    pytest.param({"meta": {}}, "series", "data is not in the response", id="no-data"),
    pytest.param({"data": "x"}, "series", "data is not a list of buckets", id="not-list"),
    pytest.param({"data": [{"start": "yesterday"}]}, "series",
                 "no usable buckets at data (each needs start, end and tweet_count)",
                 id="bad-buckets"),
    pytest.param({"count": "many"}, "count", "count is 'many', not a count", id="not-number"),
])
async def test_unreadable_counts_are_failed_polls(serve, client, payload, shape, reason):
    monitor, _ = await na14(serve, payload, shape=shape)
    obs = await monitor.check(client)
    assert (obs.ok, obs.state, obs.reason) == (False, "unknown", reason)
