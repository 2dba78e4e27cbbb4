"""Public posts to Bluesky over XRPC (createSession once, then createRecord)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from channels.base import Capabilities, ChannelConfig, Delivery, Message
from channels.graphemes import count_graphemes
from channels.transport import HttpChannel, check_length, join_url, json_body
from orchestrator.errors import PermanentDeliveryError
from orchestrator.lazy import httpx
from orchestrator.models import Secret

DEFAULT_BASE_URL = "https://bsky.social"
MAX_GRAPHEMES = 300
MAX_BYTES = 3000  # the lexicon's second limit on `text`, in UTF-8 bytes
POST = "app.bsky.feed.post"
# A URL ends before whitespace; trailing sentence punctuation is not part of it.
_URL = re.compile(r"https?://[^\s<>\"]+?(?=[.,;:!?)\]'\"]*(?:\s|$))")


class BlueskyConfig(ChannelConfig):
    kind: Literal["bluesky"]
    handle: str
    app_password: Secret
    depends_on: list[str] = ["bluesky"]


@dataclass(frozen=True)
class Session:
    """What createSession (or refreshSession) answered."""

    did: str
    access_jwt: str
    refresh_jwt: str


def link_facets(text: str) -> list[dict[str, Any]]:
    """Rich-text facets that make each URL in `text` a link (offsets in UTF-8 bytes)."""
    facets = []
    for match in _URL.finditer(text):
        start = len(text[:match.start()].encode())
        facets.append({
            "index": {"byteStart": start, "byteEnd": start + len(match.group().encode())},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": match.group()}],
        })
    return facets


def build_record(message: Message, now: datetime,
                 reply: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `app.bsky.feed.post` record; refuses text over 300 graphemes or 3,000 bytes."""
    check_length(message.body, MAX_GRAPHEMES, "bluesky", "graphemes",
                 count_graphemes(message.body))
    check_length(message.body, MAX_BYTES, "bluesky", "bytes", len(message.body.encode()))
    record: dict[str, Any] = {
        "$type": POST,
        "text": message.body,
        "createdAt": now.astimezone(UTC).isoformat(timespec="milliseconds")
                        .replace("+00:00", "Z"),
    }
    facets = link_facets(message.body)
    if facets:
        record["facets"] = facets
    if reply:
        record["reply"] = reply
    return record


def build_payload(config: BlueskyConfig, message: Message, *, did: str, now: datetime,
                  reply: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of `com.atproto.repo.createRecord` for one post."""
    return {"repo": did, "collection": POST, "record": build_record(message, now, reply)}


def session_request(config: BlueskyConfig) -> httpx.Request:
    return httpx.Request("POST", _xrpc(config, "com.atproto.server.createSession"), json={
        "identifier": config.handle, "password": config.app_password.get_secret_value()})


def refresh_request(config: BlueskyConfig, session: Session) -> httpx.Request:
    return httpx.Request("POST", _xrpc(config, "com.atproto.server.refreshSession"),
                         headers={"Authorization": f"Bearer {session.refresh_jwt}"})


def reply_refs(parent: dict[str, Any]) -> dict[str, Any]:
    """The `reply` field for answering `parent` (a getRecord answer): same root, this parent."""
    if not parent.get("uri") or not parent.get("cid"):
        raise PermanentDeliveryError("bluesky: the post to reply to has no uri/cid")
    ref = {"uri": parent["uri"], "cid": parent["cid"]}
    root = (parent.get("value") or {}).get("reply", {}).get("root") or ref
    return {"root": root, "parent": ref}


def _xrpc(config: BlueskyConfig, method: str) -> str:
    return join_url(config.base_url or DEFAULT_BASE_URL, f"/xrpc/{method}")


def _expired(exc: PermanentDeliveryError) -> bool:
    return exc.status == 401 or (exc.status == 400 and "ExpiredToken" in (exc.body or ""))


def _session(response: httpx.Response) -> Session:
    data = json_body(response) or {}
    try:
        return Session(data["did"], data["accessJwt"], data["refreshJwt"])
    except (KeyError, TypeError):
        raise PermanentDeliveryError("bluesky session answer lacks did/accessJwt/refreshJwt",
                                     status=response.status_code, body=response.text) from None


class BlueskyChannel(HttpChannel):
    name: ClassVar[str] = "bluesky"
    provider: ClassVar[str] = "bluesky"
    capabilities: ClassVar[Capabilities] = Capabilities(
        broadcast=True, max_length=300, length_unit="graphemes", threading=True, default_rate=1.0)
    Config: ClassVar[type[ChannelConfig]] = BlueskyConfig
    config: BlueskyConfig

    def __init__(self, name: str, config: BlueskyConfig, *, http: httpx.AsyncClient | None = None):
        super().__init__(name, config, http=http)
        self._session: Session | None = None
        self._lock = asyncio.Lock()  # concurrent sends share one login

    async def send(self, message: Message) -> Delivery:
        build_record(message, datetime.now(UTC))  # refuse bad text before logging in
        reply = await self._reply(message.reply_to) if message.reply_to else None
        session = await self._current_session()
        try:
            response = await self.request(self._create(session, message, reply))
        except PermanentDeliveryError as exc:
            if not _expired(exc):
                raise
            session = await self._renew(session)
            response = await self.request(self._create(session, message, reply))
        data = json_body(response) or {}
        if "uri" not in data:
            raise PermanentDeliveryError("bluesky answered without a record uri",
                                         status=response.status_code, body=response.text)
        return Delivery(provider_id=data["uri"], detail={"cid": data.get("cid")})

    def _create(self, session: Session, message: Message,
                reply: dict[str, Any] | None) -> httpx.Request:
        payload = build_payload(self.config, message, did=session.did,
                                now=datetime.now(UTC), reply=reply)
        return httpx.Request("POST", _xrpc(self.config, "com.atproto.repo.createRecord"),
                             json=payload,
                             headers={"Authorization": f"Bearer {session.access_jwt}"})

    async def _current_session(self) -> Session:
        async with self._lock:
            if self._session is None:
                self._session = _session(await self.request(session_request(self.config)))
            return self._session

    async def _renew(self, expired: Session) -> Session:
        """Refresh the expired session once, however many sends noticed; log in again if needed."""
        async with self._lock:
            if self._session is not None and self._session is not expired:
                return self._session  # another send already renewed it
            try:
                response = await self.request(refresh_request(self.config, expired))
            except PermanentDeliveryError:
                response = await self.request(session_request(self.config))
            self._session = _session(response)
            return self._session

    async def _reply(self, uri: str) -> dict[str, Any]:
        """Look up the parent post's cid and thread root, which a reply must name."""
        match = re.fullmatch(r"at://([^/]+)/([^/]+)/([^/]+)", uri)
        if not match:
            raise PermanentDeliveryError(f"bluesky: reply_to {uri!r} is not an at:// post uri")
        repo, collection, rkey = match.groups()
        request = httpx.Request("GET", _xrpc(self.config, "com.atproto.repo.getRecord"),
                                params={"repo": repo, "collection": collection, "rkey": rkey})
        return reply_refs(json_body(await self.request(request)) or {})
