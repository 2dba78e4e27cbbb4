"""Import a content calendar from CSV or YAML: good rows are scheduled, bad ones reported by line.

CSV columns: `channel`, `publish_at` (or `at`), `text`, and optionally `campaign`, `tags`
(separated by `;` or `|`) and `media_url`. YAML: a list of mappings with the same keys, or
`{posts: [...]}`. Times are ISO 8601; one without an offset is read in the config's time zone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from orchestrator.posts import add_post
from orchestrator.posts_model import PostError, check_post

KNOWN = {"channel", "publish_at", "at", "text", "campaign", "tags", "media_url"}
MAX_FILE = 10 * 1024 * 1024


@dataclass(frozen=True)
class ImportReport:
    """Ids scheduled, and (line, message) for every row left out."""

    imported: tuple[int, ...] = ()
    problems: tuple[tuple[int, str], ...] = field(default=())

    def lines(self, path: str | Path) -> list[str]:
        return [f"{path}:{line}: {message}" for line, message in self.problems]


def parse_time(text: str, timezone: str = "UTC") -> datetime:
    """An aware datetime from ISO 8601 (`Z` allowed); naive times are in `timezone`."""
    value = str(text).strip()
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"bad time {value!r}: use ISO 8601, such as 2026-12-01T09:00 "
                         f"(read in {timezone}) or 2026-12-01T09:00:00+00:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment


def import_posts(engine: Engine, config: Any, path: str | Path, *,
                 by: str = "import") -> ImportReport:
    """Schedule every valid row of the CSV or YAML file at `path`; report the others by line."""
    path = Path(path)
    if path.stat().st_size > MAX_FILE:
        return ImportReport(problems=((0, f"file is over {MAX_FILE // (1024 * 1024)} MiB"),))
    text = path.read_text(encoding="utf-8-sig")
    try:
        rows = list(_yaml_rows(text) if path.suffix.lower() in (".yaml", ".yml")
                    else _csv_rows(text))
    except ValueError as exc:
        return ImportReport(problems=((getattr(exc, "line", 0), str(exc)),))
    imported, problems = [], []
    for line, row in rows:
        try:
            fields = _fields(config, row)
            imported.append(add_post(engine, config, by=by, **fields))
        except (PostError, ValueError) as exc:
            problems.append((line, str(exc)))
    return ImportReport(tuple(imported), tuple(problems))


def _fields(config: Any, row: Mapping[str, Any]) -> dict[str, Any]:
    if "_extra" in row:
        raise ValueError("more fields than the header has columns (quote text with commas)")
    if "_not_a_mapping" in row:
        raise ValueError("expected a mapping with channel, publish_at and text")
    unknown = sorted(set(row) - KNOWN)
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(KNOWN - {'at'}))})")
    channel = str(row.get("channel") or "").strip()
    text = str(row.get("text") or "")
    when = row.get("publish_at", row.get("at"))
    missing = [name for name, value in (("channel", channel), ("publish_at", when),
                                        ("text", text.strip())) if not value]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    publish_at = when if isinstance(when, datetime) else parse_time(str(when), config.timezone)
    if publish_at.tzinfo is None:
        publish_at = publish_at.replace(tzinfo=ZoneInfo(config.timezone))
    problems = check_post(config, channel, text)
    if problems:
        raise PostError("; ".join(problems))
    tags = row.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.replace("|", ";").split(";") if t.strip()]
    return {"channel": channel, "text": text, "publish_at": publish_at,
            "campaign": (str(row["campaign"]).strip() or None) if row.get("campaign") else None,
            "tags": [str(t) for t in tags], "media_url": row.get("media_url") or None}


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        return
    header = [name.strip() for name in reader.fieldnames]
    reader.fieldnames = header
    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num  # a quoted field may span lines
        if None in row:
            yield start, {"_extra": row.pop(None)} | row
            continue
        yield start, {k: v for k, v in row.items() if v not in (None, "")}


def _yaml_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        error = ValueError(f"not valid YAML: {getattr(exc, 'problem', exc)}")
        error.line = mark.line + 1 if mark else 0  # type: ignore[attr-defined]
        raise error from None
    finally:
        loader.dispose()
    if isinstance(data, dict) and set(data) == {"posts"}:
        node = next(value for key, value in node.value if key.value == "posts")
        data = data["posts"]
    if not isinstance(data, list):
        raise ValueError("expected a list of posts (or posts: [...])")
    for item, item_node in zip(data, node.value, strict=True):
        line = item_node.start_mark.line + 1
        if not isinstance(item, dict):
            yield line, {"_not_a_mapping": item}
        else:
            yield line, item
