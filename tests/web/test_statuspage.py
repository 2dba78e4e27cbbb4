"""The public status page: HTML that parses (html.parser), Statuspage-shaped JSON and an Atom
feed that feedparser reads; only public updates, everything escaped."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import feedparser

from tests.web.conftest import PUBLIC_URL, T0
from tests.web.seed import incident

EVIL = '<script>alert("x")</script> & <b>bold</b>'


class Page(HTMLParser):
    """Collects tags, element ids and text; fails on unbalanced tags."""

    VOID = {"meta", "link", "br", "img", "input", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.ids += [value for name, value in attrs if name == "id"]
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data):
        if data.strip():
            self.text.append(data.strip())


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert page.open == [], page.open
    return page


def seed(engine) -> tuple[int, int]:
    current = incident(engine, T0, f"Facebook {EVIL}", public=["Investigating", f"Fix {EVIL}"],
                       private=["SECRET detector detail"])
    old = incident(engine, T0 - timedelta(days=2), "Email delays", state="resolved",
                   resolved_at=T0 - timedelta(days=1), public=["Delays", "Resolved"],
                   platform="sendgrid", platform_state="degraded")
    incident(engine, T0 - timedelta(days=30), "Ancient", state="resolved",
             resolved_at=T0 - timedelta(days=29), public=["long ago"])
    incident(engine, T0, "Internal only", private=["nobody outside hears of this"])
    return current, old


async def test_html_page(client, engine):
    current, old = seed(engine)
    answer = await client.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src" not in answer.headers["content-security-policy"]  # no scripts at all
    page = parse(answer.text)
    assert "script" not in page.tags and "b" not in page.tags
    assert f"incident-{current}" in page.ids and f"incident-{old}" in page.ids
    text = " ".join(page.text)
    assert f"Facebook {EVIL}" in text and f"Fix {EVIL}" in text
    for hidden in ("SECRET", "Internal only", "Ancient"):
        assert hidden not in answer.text
    assert "Current incidents" in text and "Resolved in the last 7 days" in text


async def test_all_clear_page(client):
    page = parse((await client.get("/")).text)
    assert "No current incidents" in page.text


async def test_json(client, engine):
    current, old = seed(engine)
    doc = (await client.get("/api/v2/incidents.json")).json()
    assert doc["page"] == {"name": "Example status", "url": PUBLIC_URL,
                           "updated_at": T0.isoformat()}
    first, second = doc["incidents"]
    assert (first["id"], first["status"], first["impact"]) == (str(current), "identified",
                                                               "critical")
    assert [u["body"] for u in first["incident_updates"]] == [f"Fix {EVIL}", "Investigating"]
    assert first["shortlink"] == f"{PUBLIC_URL}/#incident-{current}"
    assert (second["id"], second["status"], second["impact"]) == (str(old), "resolved", "minor")
    assert second["resolved_at"] == (T0 - timedelta(days=1)).isoformat()


async def test_atom_feed(client, engine):
    current, _ = seed(engine)
    answer = await client.get("/feed.atom")
    assert answer.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(answer.content)
    assert feed.bozo == 0, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title == "Example status"
    assert [e.title for e in feed.entries] == [
        f"Facebook {EVIL}: identified", f"Facebook {EVIL}: investigating",
        "Email delays: identified", "Email delays: investigating"]
    assert feed.entries[0].summary == f"Fix {EVIL}"
    assert feed.entries[0].link == f"{PUBLIC_URL}/#incident-{current}"
    assert len({e.id for e in feed.entries}) == 4
    assert feed.feed.updated_parsed[:5] == (2026, 11, 22, 13, 2)


async def test_empty_feed_is_valid(client):
    feed = feedparser.parse((await client.get("/feed.atom")).content)
    assert feed.bozo == 0 and feed.entries == []
