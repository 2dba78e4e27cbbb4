"""Pure RSS 2.0 / RSS 1.0 / Atom parsing into plain entries, with the stdlib XML parser."""

from __future__ import annotations

import hashlib
import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from orchestrator.monitors.fetch import BadResponse

_TAGS = re.compile(r"<[^>]+>")
_TEXT_FIELDS = ("description", "summary", "content", "encoded")
_DATE_FIELDS = ("updated", "pubDate", "published", "date", "modified")


@dataclass(frozen=True)
class Entry:
    """One feed item: `key` identifies the item across edits, `version` this edit of it."""

    key: str
    title: str
    text: str
    link: str
    when: datetime | None

    @property
    def version(self) -> str:
        raw = "\x1f".join((self.key, self.title, self.text, str(self.when)))
        return hashlib.sha1(raw.encode()).hexdigest()[:16]


def parse_feed(body: bytes) -> list[Entry]:
    """Entries of an RSS or Atom document, or BadResponse saying why it is not one."""
    head = body[:4096]
    if b"<!ENTITY" in head or b"<!entity" in head:
        # Entity declarations are how XML bombs and external-entity reads start; no status
        # feed needs them.
        raise BadResponse("feed declares XML entities; refused")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        line, column = exc.position
        hint = " (looks like HTML)" if body.lstrip()[:15].lower().startswith(
            (b"<!doctype html", b"<html")) else ""
        raise BadResponse(f"not an RSS or Atom feed{hint}: XML error at line {line}, "
                          f"column {column}") from None
    name = _local(root.tag)
    if name not in ("rss", "feed", "RDF"):
        raise BadResponse(f"not an RSS or Atom feed (root element <{name}>)")
    items = [el for el in root.iter() if _local(el.tag) in ("item", "entry")]
    return [_entry(item) for item in items]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _entry(item: ET.Element) -> Entry:
    fields: dict[str, ET.Element] = {}
    for child in item:
        fields.setdefault(_local(child.tag), child)
    title = _text(fields.get("title"))
    text = next((_text(fields[f]) for f in _TEXT_FIELDS if f in fields), "")
    link = _link(item)
    key = (_text(fields.get("guid")) or _text(fields.get("id")) or link or title)
    when = next((d for f in _DATE_FIELDS if f in fields
                 for d in [_date(_text(fields[f]))] if d), None)
    return Entry(key=key, title=title, text=text, link=link, when=when)


def _text(element: ET.Element | None) -> str:
    if element is None:
        return ""
    raw = "".join(element.itertext())
    # Descriptions usually carry escaped HTML: unescape, drop the tags, squeeze spaces.
    return " ".join(_TAGS.sub(" ", html.unescape(raw)).split())


def _link(item: ET.Element) -> str:
    for child in item:
        if _local(child.tag) != "link":
            continue
        href = child.get("href")
        if href and child.get("rel", "alternate") == "alternate":
            return href
        if (child.text or "").strip():
            return child.text.strip()
    return ""


def _date(text: str) -> datetime | None:
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
