"""The publisher: atomic claims against pauses, the real outbox, and crashes after a claim."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from orchestrator.outbox import MemoryOutbox, Outbox
from orchestrator.posts import Selector, add_post, list_posts, pause_posts
from orchestrator.publisher import claim_due, post_key, publish_due
from orchestrator.store.engine import make_engine
from orchestrator.store.schema import outbox as outbox_table
from orchestrator.store.schema import scheduled_posts
from tests.posts.conftest import T0

DUE = T0 + timedelta(seconds=20)


def test_due_posts_reach_the_real_outbox_once(engine, config):
    post = add_post(engine, config, channel="mastodon", text="Spring menu is out",
                    publish_at=DUE, media_url="https://cdn.example.com/menu.png",
                    campaign="spring", tags=("food",))
    later = add_post(engine, config, channel="mastodon", text="Later",
                     publish_at=DUE + timedelta(hours=1))
    box = Outbox(engine)
    assert publish_due(engine, config, box, T0) == 0
    assert publish_due(engine, config, box, DUE) == 1
    assert publish_due(engine, config, box, DUE + timedelta(minutes=1)) == 0
    with engine.connect() as conn:
        [row] = conn.execute(select(outbox_table)).all()
    assert row.idempotency_key == f"post:{post}:2026-11-22T13:00:20+00:00"
    assert (row.channel, row.recipient, row.body, row.state) == (
        "mastodon", None, "Spring menu is out", "pending")
    assert row.payload["metadata"] == {"post_id": post, "campaign": "spring", "tags": ["food"],
                                       "media_url": "https://cdn.example.com/menu.png"}
    states = {p.id: (p.state, p.published_at) for p in list_posts(engine)}
    assert states == {post: ("published", DUE), later: ("scheduled", None)}


def test_a_crash_after_the_claim_publishes_once_on_restart(db_url, config):
    from orchestrator.store.migrate import upgrade

    first = make_engine(db_url)
    upgrade(first)
    post = add_post(first, config, channel="x", text="New feature", publish_at=T0)
    assert claim_due(first, DUE) == [post]  # claimed, then the process dies
    first.dispose()

    second = make_engine(db_url)
    try:
        box = MemoryOutbox()
        assert publish_due(second, config, box, DUE) == 1
        assert publish_due(second, config, box, DUE) == 0
        assert list(box.rows) == [post_key(post, T0)]
        # Had the first run got as far as enqueuing, the real outbox ignores the repeat.
        real = Outbox(second)
        rows = list(box.rows.values())
        assert real.enqueue(rows) == 1 and real.enqueue(rows) == 0
        assert [p.state for p in list_posts(second)] == ["published"]
    finally:
        second.dispose()


def test_posts_on_a_disabled_or_removed_channel_fail_with_a_reason(engine, config):
    from orchestrator.store.schema import scheduled_posts as sp

    with engine.begin() as conn:  # written when the channel still existed
        conn.execute(sp.insert().values(channel="old-blog", text="hi", publish_at=T0,
                                        state="scheduled", tags=[]))
        conn.execute(sp.insert().values(channel="myspace", text="hi", publish_at=T0,
                                        state="scheduled", tags=[]))
    box = MemoryOutbox()
    assert publish_due(engine, config, box, DUE) == 0
    assert sorted((p.state, p.last_error) for p in list_posts(engine)) == [
        ("failed", "channel 'myspace' is not configured"),
        ("failed", "channel 'old-blog' is disabled")]


@pytest.mark.parametrize("round_", range(8))
def test_pause_and_publish_racing_for_a_due_post_never_both_win(engine, config, round_):
    # The publisher runs at the very moment of the pause. Whichever the database lets in
    # first takes the post; a post that ends up paused must never be in the outbox.
    post = add_post(engine, config, channel="facebook-page", text="Flash sale!",
                    publish_at=T0 + timedelta(seconds=round_ % 2))
    box = MemoryOutbox()
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def pause():
        barrier.wait()
        results["paused"] = pause_posts(engine, config, Selector(platforms=("facebook",)),
                                        reason="outage", by="ops", now=T0)

    def publish():
        barrier.wait()
        results["published"] = publish_due(engine, config, box, T0 + timedelta(seconds=1))

    threads = [threading.Thread(target=pause), threading.Thread(target=publish)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    with engine.connect() as conn:
        state = conn.execute(select(scheduled_posts.c.state)).scalar_one()
    if results["paused"] == [post]:
        assert (state, results["published"], box.rows) == ("paused", 0, {})
    else:
        assert (state, results["published"], list(box.rows)) == (
            "published", 1, [post_key(post, T0 + timedelta(seconds=round_ % 2))])
