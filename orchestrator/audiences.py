"""Audiences: contacts imported from CSV, the suppression list, and quiet hours for SMS."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, select

from orchestrator.store.engine import SQLITE_IMMEDIATE
from orchestrator.store.schema import audience_members, contacts, suppressions
from orchestrator.store.sql import dialect_insert
from orchestrator.store.types import utcnow

# A channel addresses people by phone or email; suppressions are kept per kind of address.
SUPPRESSION_KIND = {"phone": "sms", "sms": "sms", "email": "email"}
COLUMNS = ("name", "phone", "email", "timezone", "tags")
CHUNK = 500


@dataclass(frozen=True)
class ContactRow:
    """One valid CSV row, normalised (E.164 phone, normalised email)."""

    line: int
    name: str | None
    phone: str | None
    email: str | None
    timezone: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did: rows read, contacts created and updated, rows refused."""

    audience: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    bad: list[BadRow] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated


class Recipient(NamedTuple):
    address: str
    contact_id: int
    timezone: str | None


def normalize_phone(value: str) -> str:
    """The E.164 form of an international number; ValueError explains a bad one."""
    import phonenumbers

    if not value.startswith("+"):
        raise ValueError(f"phone {value!r} is not in E.164 form (+ and country code)")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"phone {value!r} cannot be read: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"phone {value!r} is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"email {value!r} is not valid: {exc}") from None


def parse_row(line: int, row: dict[str, Any]) -> ContactRow | BadRow:
    """Validate one CSV record (pure): a ContactRow, or a BadRow saying every problem."""
    value = {k: (row.get(k) or "").strip() for k in COLUMNS}
    problems: list[str] = []
    phone = email = None
    if not value["phone"] and not value["email"]:
        problems.append("needs a phone or an email")
    if value["phone"]:
        try:
            phone = normalize_phone(value["phone"])
        except ValueError as exc:
            problems.append(str(exc))
    if value["email"]:
        try:
            email = normalize_email(value["email"])
        except ValueError as exc:
            problems.append(str(exc))
    if value["timezone"]:
        try:
            ZoneInfo(value["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"unknown time zone {value['timezone']!r}")
    if problems:
        return BadRow(line, "; ".join(problems))
    tags = tuple(t for t in (p.strip() for p in re.split(r"[;,|]", value["tags"])) if t)
    return ContactRow(line, value["name"] or None, phone, email, value["timezone"] or None, tags)


def read_csv(path: Path) -> Iterator[ContactRow | BadRow]:
    """Every record of a contacts CSV, with the line it ends on (the header is line 1)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        if "phone" not in header and "email" not in header:
            yield BadRow(1, "the header needs a 'phone' or an 'email' column "
                            f"(columns: {', '.join(COLUMNS)})")
            return
        reader.fieldnames = header
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue  # a blank line is not a bad contact
            yield parse_row(reader.line_num, row)


def import_contacts(engine: Engine, path: str | Path, audience: str) -> ImportReport:
    """Import a CSV into `audience`: valid rows upserted by phone (else email), bad rows
    reported by line and skipped."""
    report = ImportReport(audience)
    good: list[ContactRow] = []
    for item in read_csv(Path(path)):
        if isinstance(item, ContactRow) or item.line > 1:  # line 1 is the header
            report.rows += 1
        if isinstance(item, BadRow):
            report.bad.append(item)
        else:
            good.append(item)
    with engine.connect() as conn:
        conn = conn.execution_options(**{SQLITE_IMMEDIATE: True})
        with conn.begin():
            for start in range(0, len(good), CHUNK):
                _upsert(conn, good[start:start + CHUNK], audience, report)
    return report


def _upsert(conn, rows: list[ContactRow], audience: str, report: ImportReport) -> None:
    phones = [r.phone for r in rows if r.phone]
    emails = [r.email for r in rows if r.email]
    by_phone = dict(conn.execute(select(contacts.c.phone, contacts.c.id)
                                 .where(contacts.c.phone.in_(phones))).all()) if phones else {}
    by_email = dict(conn.execute(select(contacts.c.email, contacts.c.id)
                                 .where(contacts.c.email.in_(emails))).all()) if emails else {}
    for row in rows:
        values = {"name": row.name, "timezone": row.timezone, "tags": list(row.tags)}
        if row.phone:
            values["phone"] = row.phone
        if row.email:
            values["email"] = row.email
        existing = by_phone.get(row.phone) if row.phone else None
        existing = existing or (by_email.get(row.email) if row.email else None)
        if existing is None:
            existing = conn.execute(contacts.insert().values(created_at=utcnow(), **values)
                                    .returning(contacts.c.id)).scalar_one()
            report.created += 1
        else:
            conn.execute(contacts.update().where(contacts.c.id == existing).values(**values))
            report.updated += 1
        if row.phone:
            by_phone[row.phone] = existing
        if row.email:
            by_email[row.email] = existing
        conn.execute(dialect_insert(conn, audience_members)
                     .values(audience=audience, contact_id=existing).on_conflict_do_nothing())


def recipients(engine: Engine, audience: str, channel_kind: str) -> Iterator[Recipient]:
    """The audience's addresses of `channel_kind` (sms/phone or email), minus suppressions."""
    kind = SUPPRESSION_KIND[channel_kind]
    column = contacts.c.phone if kind == "sms" else contacts.c.email
    suppressed = select(suppressions.c.address).where(suppressions.c.address_kind == kind)
    query = (select(column, contacts.c.id, contacts.c.timezone)
             .join(audience_members, audience_members.c.contact_id == contacts.c.id)
             .where(audience_members.c.audience == audience, column.is_not(None),
                    column.not_in(suppressed))
             .order_by(contacts.c.id))
    with engine.connect() as conn:
        for address, contact_id, timezone in conn.execute(query):
            yield Recipient(address, contact_id, timezone)


def suppress(engine: Engine, kind: str, address: str, reason: str, source: str = "manual"
             ) -> bool:
    """Add an address to the suppression list; False when it was already there."""
    with engine.begin() as conn:
        statement = (dialect_insert(conn, suppressions)
                     .values(address_kind=SUPPRESSION_KIND[kind], address=address,
                             reason=reason, source=source, created_at=utcnow())
                     .on_conflict_do_nothing().returning(suppressions.c.address))
        return conn.execute(statement).first() is not None


def contact_details(conn, contact_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Phone, email and time zone of each contact id (for failover and quiet hours)."""
    ids = sorted(set(contact_ids))
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), CHUNK):
        query = select(contacts.c.id, contacts.c.phone, contacts.c.email, contacts.c.timezone
                       ).where(contacts.c.id.in_(ids[start:start + CHUNK]))
        found.update({r.id: {"phone": r.phone, "email": r.email, "timezone": r.timezone}
                      for r in conn.execute(query)})
    return found


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # the window crosses midnight


def quiet_until(now: datetime, timezone: str | None, start: time, end: time) -> datetime | None:
    """When quiet hours end for someone in `timezone` (UTC), or None if it is not quiet now."""
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    if not in_quiet_hours(local.time().replace(tzinfo=None), start, end):
        return None
    morning = datetime.combine(local.date(), end, tzinfo=zone)
    if morning <= local:
        morning = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return morning.astimezone(now.tzinfo)
