"""The feed monitor: RSS and Atom status feeds served locally, polled over time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web

from orchestrator.monitors.feed import FeedConfig, FeedMonitor
from orchestrator.monitors.feed_xml import parse_feed
from orchestrator.monitors.fetch import BadResponse

NOW = datetime(2024, 10, 4, 16, 0, tzinfo=UTC)


def rss_item(guid: str, title: str, description: str, when: datetime) -> str:
    # Statuspage's history.rss: one item per incident, its updates as escaped HTML, newest first.
    return (f"<item><title>{title}</title><description>{description}</description>"
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<link>https://metastatus.example/incidents/{guid}</link>"
            f"<guid>https://metastatus.example/incidents/{guid}</guid></item>")


def rss(*items: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            "<title>Meta Status - Incident History</title>"
            + "".join(items) + "</channel></rss>").encode()


def atom(*entries: tuple[str, str, str, datetime]) -> bytes:
    body = "".join(
        f'<entry><id>tag:status.example,2024:{key}</id><title>{title}</title>'
        f'<updated>{when.isoformat()}</updated><link rel="alternate" href="https://s.example/{key}"/>'
        f'<content type="html">{content}</content></entry>'
        for key, title, content, when in entries)
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>X status</title><id>tag:status.example,2024:feed</id>{body}</feed>").encode()


class Feed:
    """A feed whose body tests replace between polls."""

    def __init__(self, body: bytes, content_type: str = "application/rss+xml"):
        self.body, self.content_type = body, content_type

    async def handle(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.body, content_type=self.content_type)


class Clock:
    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def feed_monitor(serve, feed: Feed, clock: Clock, **extra) -> FeedMonitor:
    base = await serve({"/history.rss": feed.handle})
    config = FeedConfig(name="meta-feed", platform="facebook", kind="feed",
                        url=f"{base}/history.rss", **extra)
    return FeedMonitor(config, clock=clock)


OLD = rss_item("old1", "Instagram feed delays", "&lt;p&gt;&lt;strong&gt;Resolved&lt;/strong&gt;"
               " - This incident has been resolved.&lt;/p&gt;", NOW - timedelta(days=3))


async def test_an_outage_opens_persists_and_resolves(serve, client):
    feed, clock = Feed(rss(OLD)), Clock()
    monitor = await feed_monitor(serve, feed, clock)
    calm = await monitor.check(client)
    assert (calm.ok, calm.state, calm.reason) == (True, "operational", "no open entries")

    outage = rss_item("fb1", "Facebook Pages outage",
                      "&lt;p&gt;&lt;strong&gt;Investigating&lt;/strong&gt; - Some people are "
                      "unable to load Pages.&lt;/p&gt;", NOW - timedelta(minutes=5))
    feed.body = rss(outage, OLD)
    clock.now += timedelta(minutes=1)
    down = await monitor.check(client)
    assert (down.state, down.reason) == ("major_outage", "major_outage: Facebook Pages outage")
    assert down.detail["new_entries"] == 1
    assert down.detail["open"][0]["link"] == "https://metastatus.example/incidents/fb1"

    clock.now += timedelta(minutes=1)
    still = await monitor.check(client)  # nothing new: the state persists between polls
    assert (still.state, still.detail["new_entries"]) == ("major_outage", 0)

    fixed = rss_item("fb1", "Facebook Pages outage",
                     "&lt;p&gt;&lt;strong&gt;Resolved&lt;/strong&gt; - Pages load again."
                     "&lt;/p&gt;&lt;p&gt;&lt;strong&gt;Investigating&lt;/strong&gt; - Some "
                     "people are unable to load Pages.&lt;/p&gt;", NOW - timedelta(minutes=5))
    feed.body = rss(fixed, OLD)
    clock.now += timedelta(minutes=30)
    back = await monitor.check(client)
    assert (back.state, back.detail["open"]) == ("operational", [])


async def test_state_survives_a_restart(serve, client):
    outage = rss_item("fb1", "Degraded performance for Messenger", "Messages are slow",
                      NOW - timedelta(minutes=2))
    feed, clock = Feed(rss(outage)), Clock()
    first = await feed_monitor(serve, feed, clock)
    assert (await first.check(client)).state == "degraded"
    saved = json.loads(json.dumps(first.state_dict()))
    second = await feed_monitor(serve, feed, clock)
    second.load_state(saved)
    obs = await second.check(client)
    assert (obs.state, obs.detail["new_entries"]) == ("degraded", 0)


async def test_atom_with_a_separate_resolved_entry(serve, client):
    down = ("1", "Posting unavailable", "&lt;p&gt;We are investigating.&lt;/p&gt;",
            NOW - timedelta(minutes=10))
    maint = ("2", "Scheduled maintenance: DM search", "In progress", NOW - timedelta(minutes=9))
    feed, clock = Feed(atom(maint, down), "application/atom+xml"), Clock()
    monitor = await feed_monitor(serve, feed, clock)
    obs = await monitor.check(client)
    assert obs.state == "major_outage"
    assert {o["title"] for o in obs.detail["open"]} == {"Posting unavailable",
                                                        "Scheduled maintenance: DM search"}
    fixed = ("3", "Posting restored", "All good", NOW - timedelta(minutes=1))
    feed.body = atom(fixed, maint, down)
    obs = await monitor.check(client)
    assert (obs.state, obs.maintenance) == ("maintenance", True)


async def test_old_news_is_ignored_and_open_entries_age_out(serve, client):
    stale = rss_item("x", "Facebook outage", "Investigating", NOW - timedelta(hours=30))
    recent = rss_item("y", "Facebook outage", "Investigating", NOW - timedelta(hours=1))
    clock = Clock()
    monitor = await feed_monitor(serve, Feed(rss(stale)), clock)
    assert (await monitor.check(client)).state == "operational"
    monitor = await feed_monitor(serve, Feed(rss(recent)), clock, max_age="2h")
    assert (await monitor.check(client)).state == "major_outage"
    clock.now += timedelta(hours=2)
    assert (await monitor.check(client)).state == "operational"


@pytest.mark.parametrize("body, reason", [
    pytest.param(b"<!DOCTYPE html><html><body><p>Sign in<br></p></body></html>",
                 "not an RSS or Atom feed (looks like HTML): XML error at line 1, column 43",
                 id="html"),
    pytest.param(b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'/>",
                 "not an RSS or Atom feed (root element <html>)", id="xhtml"),
    pytest.param(rss(OLD)[:150], "not an RSS or Atom feed: XML error at line 1, column 145",
                 id="truncated"),
    pytest.param(b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
                 b"<rss><channel><item><title>&b;</title></item></channel></rss>",
                 "feed declares XML entities; refused", id="entities"),
])
def test_bad_feeds(body, reason):
    with pytest.raises(BadResponse) as info:
        parse_feed(body)
    assert str(info.value) == reason


async def test_bad_feed_is_a_failed_poll(serve, client):
    monitor = await feed_monitor(serve, Feed(b"{\"not\": \"xml\"}", "application/json"),
                                 Clock())
    obs = await monitor.check(client)
    assert (obs.ok, obs.state) == (False, "unknown")
    assert obs.reason.startswith("not an RSS or Atom feed: XML error")


def test_parsed_entry_fields():
    entry = parse_feed(rss(OLD))[0]
    assert entry.title == "Instagram feed delays"
    assert entry.text == "Resolved - This incident has been resolved."
    assert entry.when == NOW - timedelta(days=3)
    assert entry.key == entry.link == "https://metastatus.example/incidents/old1"
