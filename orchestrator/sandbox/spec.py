"""Check recorded Twilio and SendGrid traffic against the providers' official OpenAPI documents."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.sandbox.core import RecordedRequest

SPEC_FILES = {
    "twilio": ("twilio_api_v2010.json",),
    "sendgrid": ("sendgrid_tsg_mail_v3.json", "sendgrid_tsg_scheduled_sends_v3.json"),
}
# The server URLs the documents declare: requests are matched as if sent there.
HOSTS = {"twilio": "https://api.twilio.com", "sendgrid": "https://api.sendgrid.com"}
ADDRESS = re.compile(r"^(?:[a-z]+:)?\+?[0-9A-Za-z]{3,15}$")


def default_spec_dir() -> Path:
    """$ORCHESTRATOR_SPECS, else ../shared/specs beside the repository."""
    if "ORCHESTRATOR_SPECS" in os.environ:
        return Path(os.environ["ORCHESTRATOR_SPECS"])
    return Path(__file__).resolve().parents[3] / "shared" / "specs"


# Formats the Twilio document uses that jsonschema does not know. They are checked
# loosely: the point is the field names, types and enums, not Twilio's own parsers.
FORMATS = {
    "phone-number": lambda value: bool(ADDRESS.match(str(value))),
    "date-time-rfc-2822": lambda value: bool(re.match(r"^\w{3}, \d{2} \w{3} \d{4} ", value)),
    "uri-map": lambda value: isinstance(value, dict),
    "currency": lambda value: bool(re.match(r"^[A-Za-z]{3}$", str(value))),
}


@dataclass
class OpenApiRequest:
    """A request in the shape openapi-core reads (recorded here, or made by a test)."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: Any


@dataclass
class OpenApiResponse:
    """A response in the shape openapi-core reads."""

    status_code: int
    content_type: str
    headers: Any
    data: bytes | None


class SpecValidator:
    """Loads each document once (they are large) and validates recorded exchanges."""

    def __init__(self, spec_dir: Path | None = None) -> None:
        self.spec_dir = spec_dir or default_spec_dir()
        self._apis: dict[str, list[Any]] = {}

    def _load(self, provider: str) -> list[Any]:
        if provider not in self._apis:
            from openapi_core import Config, OpenAPI

            config = Config(
                spec_validator_cls=None,  # the documents are trusted; validating them is slow
                extra_format_validators=FORMATS,
                # Every property the document lists must be in a 2xx answer.
                response_properties_default_policy=True,
            )
            apis = []
            for name in SPEC_FILES[provider]:
                path = self.spec_dir / name
                if not path.exists():
                    raise FileNotFoundError(f"OpenAPI document {path} is missing "
                                            "(set ORCHESTRATOR_SPECS to its folder)")
                apis.append(OpenAPI.from_dict(json.loads(path.read_text()), config=config))
            self._apis[provider] = apis
        return self._apis[provider]

    def errors(self, recorded: RecordedRequest, response: bool = True) -> list[str]:
        """What is wrong with the request (and its 2xx response), or [] when it conforms."""
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        request = OpenApiRequest(
            host_url=HOSTS[recorded.provider], path=recorded.path,
            method=recorded.method.lower(), body=recorded.body or None,
            content_type=recorded.headers.get("content-type", ""),
            parameters=RequestParameters(
                query=ImmutableMultiDict(recorded.query_items),
                header=Headers(list(recorded.headers.items())),
                cookie=ImmutableMultiDict(),
            ),
        )
        problems: list[str] = []
        for api in self._load(recorded.provider):
            # Validating only (not unmarshalling) is some 25 times faster on a
            # 1,000-personalization mail.
            found = _describe(list(api.iter_request_errors(request)))
            if any("PathNotFound" in p or "OperationNotFound" in p for p in found):
                continue  # this path is in the provider's other document
            problems = found
            if not found and response and recorded.status and 200 <= recorded.status < 300:
                problems = self._response_errors(api, request, recorded)
            return [f"{recorded.method} {recorded.path}: {p}" for p in problems]
        return [f"{recorded.method} {recorded.path}: no operation in the OpenAPI documents"]

    def _response_errors(self, api: Any, request: OpenApiRequest,
                         recorded: RecordedRequest) -> list:
        from werkzeug.datastructures import Headers

        answer = OpenApiResponse(
            status_code=recorded.status or 0,
            content_type=recorded.response_headers.get("content-type", ""),
            headers=Headers(list(recorded.response_headers.items())),
            data=recorded.response_body or None,
        )
        errors = list(api.iter_response_errors(request, answer))
        return ["response: " + problem for problem in _describe(errors)]

    def check(self, requests: list[RecordedRequest], response: bool = True) -> None:
        """Raise AssertionError listing every non-conforming request."""
        problems = [p for r in requests for p in self.errors(r, response)]
        if problems:
            raise AssertionError("requests do not match the OpenAPI documents:\n  "
                                 + "\n  ".join(problems))


def _describe(errors: list[Exception]) -> list[str]:
    """Each error with its causes (openapi-core nests the useful part), values clipped."""
    out = []
    for error in errors:
        text, cause = f"{type(error).__name__}: {_clip(str(error))}", error.__cause__
        while cause is not None:
            text += f" <- {type(cause).__name__}"
            details = getattr(cause, "schema_errors", None)
            if details:
                text += " [" + "; ".join(
                    f"/{'/'.join(map(str, e.absolute_path))}: {_clip(e.message)}"
                    for e in details) + "]"
            else:
                text += f": {_clip(str(cause))}"
            cause = cause.__cause__
        out.append(text)
    return out


def _clip(text: str, limit: int = 200) -> str:
    """Schema messages quote the whole offending value; keep both ends of it."""
    if len(text) <= limit:
        return text
    return text[: limit // 2] + " ... " + text[-limit // 2:]
