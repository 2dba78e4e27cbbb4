"""Calendar import from CSV and YAML: good rows scheduled, bad rows reported by line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orchestrator.post_import import import_posts, parse_time
from orchestrator.posts import list_posts

CSV = '''\
channel,publish_at,text,campaign,tags
facebook-page,2026-12-01T09:00:00Z,Spring menu is out,spring,promo;food
facebok,2026-12-01T10:00:00Z,Typo in the channel,,
x,yesterday at noon,Bad time,,
x,2026-12-01T11:00,"A long one: {long}",,
mastodon,2026-12-01T12:00:00+01:00,"Quoted, with a comma
and a second line",,links-to-facebook
sms,2026-12-01T13:00:00Z,Not a public channel,,
x,,No time,,
'''.format(long="a" * 300)

YAML = """\
posts:
  - {channel: x, publish_at: "2026-12-01T09:00:00Z", text: Hello}
  - channel: instagram
    at: 2026-12-01 10:00:00+00:00
    text: Photo of the day
    tags: [photo]
  - {channel: x, publish_at: "2026-12-01T09:00:00Z", text: Hi, colour: red}
  - just a string
  - {channel: bluesky, publish_at: "2026-12-01T09:00:00Z", text: Hi}
"""


def test_csv_rows_are_imported_or_reported_by_line(engine, config, tmp_path):
    path = tmp_path / "calendar.csv"
    path.write_text(CSV)
    report = import_posts(engine, config, path)
    assert report.lines("calendar.csv") == [
        "calendar.csv:3: unknown channel 'facebok' (known: email, facebook-page, instagram, "
        "mastodon, old-blog, sms, x)",
        "calendar.csv:4: bad time 'yesterday at noon': use ISO 8601, such as 2026-12-01T09:00 "
        "(read in UTC) or 2026-12-01T09:00:00+00:00",
        "calendar.csv:5: text is 312 characters; channel 'x' allows 280",
        "calendar.csv:8: channel 'sms' (twilio) cannot publish a post; it messages individual "
        "recipients",
        "calendar.csv:9: missing publish_at",
    ]
    posts = list_posts(engine)
    assert [(p.channel, p.publish_at, p.campaign, p.tags) for p in posts] == [
        ("facebook-page", datetime(2026, 12, 1, 9, tzinfo=UTC), "spring", ("promo", "food")),
        ("mastodon", datetime(2026, 12, 1, 11, tzinfo=UTC), None, ("links-to-facebook",)),
    ]
    assert posts[1].text == "Quoted, with a comma\nand a second line"
    assert sorted(report.imported) == sorted(p.id for p in posts)


def test_yaml_rows_are_imported_or_reported_by_line(engine, config, tmp_path):
    path = tmp_path / "calendar.yaml"
    path.write_text(YAML)
    report = import_posts(engine, config, path)
    assert report.problems == (
        (7, "unknown column(s) colour (known: campaign, channel, media_url, publish_at, tags, "
            "text)"),
        (8, "expected a mapping with channel, publish_at and text"),
        (9, "unknown channel 'bluesky' (known: email, facebook-page, instagram, mastodon, "
            "old-blog, sms, x)"),
    )
    assert [(p.channel, p.tags) for p in list_posts(engine)] == [
        ("x", ()), ("instagram", ("photo",))]


def test_broken_yaml_is_one_located_problem(engine, config, tmp_path):
    path = tmp_path / "calendar.yml"
    path.write_text("posts:\n  - channel: x\n    text: a: b\n")
    report = import_posts(engine, config, path)
    assert report.problems == ((3, "not valid YAML: mapping values are not allowed here"),)
    assert list_posts(engine) == []


@pytest.mark.parametrize(("text", "zone", "expected"), [
    ("2026-12-01T09:00:00Z", "UTC", datetime(2026, 12, 1, 9, tzinfo=UTC)),
    ("2026-12-01T09:00", "America/New_York", datetime(2026, 12, 1, 14, tzinfo=UTC)),
    ("2026-07-01 09:00", "America/New_York", datetime(2026, 7, 1, 13, tzinfo=UTC)),
    ("2026-12-01T09:00:00+01:00", "America/New_York", datetime(2026, 12, 1, 8, tzinfo=UTC)),
])
def test_parse_time(text, zone, expected):
    assert parse_time(text, zone) == expected
