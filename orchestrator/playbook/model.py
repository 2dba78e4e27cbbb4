"""The playbook language as pydantic models: trigger, vars, templates, phases and steps."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from orchestrator.durations import Duration
from orchestrator.models import HttpUrl, Name, PlatformState, StrictModel

MissedRule = Literal["publish_now", "next_slot", "skip", "hold"]


class Trigger(StrictModel):
    """When a platform change starts this playbook; absent for manual-only playbooks."""

    platforms: list[Name] = Field(min_length=1)
    states: list[PlatformState] = ["partial_outage", "major_outage"]
    sustained_for: Duration = timedelta(0)
    ignore_maintenance: bool = True

    @field_validator("states")
    @classmethod
    def _not_operational(cls, states: list[str]) -> list[str]:
        if "operational" in states:
            raise ValueError("'operational' cannot trigger a playbook: recovery runs on_resolve")
        return states


class _Content(StrictModel):
    """Either a named template or inline text (itself a template)."""

    template: Name | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.template is None) == (self.text is None):
            raise ValueError("give exactly one of 'template' (a name from templates:) or 'text'")
        return self


class _Selector(StrictModel):
    """Which scheduled posts a pause or resume applies to."""

    channels: list[Name] = []
    platforms: list[Name] = []
    campaigns: list[str] = []
    tags: list[str] = []


class PausePostsArgs(_Selector):
    reason: str = "{{ platform.display_name }} outage"
    all: bool = False

    @model_validator(mode="after")
    def _some_selector(self):
        if not (self.all or self.channels or self.platforms or self.campaigns or self.tags):
            raise ValueError("say which posts to pause: channels, platforms, campaigns or tags "
                             "(or all: true)")
        return self


class ResumePostsArgs(_Selector):
    missed: MissedRule = "next_slot"


class NotifyArgs(_Content):
    channel: Name
    audience: Name
    subject: str | None = None
    fallback: list[Name] = []
    urgent: bool = False


class PostArgs(_Content):
    to: Literal["surviving", "all"] | list[Name] = "surviving"
    thread: bool = True  # reply to this run's previous post where the channel can thread


class StatusPageArgs(_Content):
    status: Literal["investigating", "identified", "monitoring", "resolved"] = "investigating"


class WebhookArgs(StrictModel):
    url: HttpUrl
    method: Literal["POST", "PUT"] = "POST"
    headers: dict[str, str] = {}
    json_body: dict[str, Any] = Field(default={}, alias="json")
    allow_private: bool = False


class WaitArgs(StrictModel):
    duration: Duration


class ApprovalArgs(StrictModel):
    message: str
    timeout: Duration = timedelta(minutes=30)
    on_timeout: Literal["proceed", "abort"] = "abort"


class _Step(StrictModel):
    """Keys every step takes beside its action."""

    when: str | None = None           # a Jinja2 expression; the step is skipped when false
    continue_on_error: bool = False
    name: str | None = None


class PausePostsStep(_Step):
    pause_posts: PausePostsArgs


class ResumePostsStep(_Step):
    resume_posts: ResumePostsArgs = ResumePostsArgs()


class NotifyStep(_Step):
    notify: NotifyArgs


class PostStep(_Step):
    post: PostArgs


class StatusPageStep(_Step):
    status_page: StatusPageArgs


class WebhookStep(_Step):
    webhook: WebhookArgs


class WaitStep(_Step):
    wait: WaitArgs


class ApprovalStep(_Step):
    approval: ApprovalArgs


STEP_TYPES: dict[str, type[_Step]] = {
    "pause_posts": PausePostsStep, "resume_posts": ResumePostsStep, "notify": NotifyStep,
    "post": PostStep, "status_page": StatusPageStep, "webhook": WebhookStep, "wait": WaitStep,
    "approval": ApprovalStep,
}
STEP_KINDS = tuple(STEP_TYPES)


def step_kind(value: Any) -> str | None:
    """The action key of a step mapping, or None when it has none or several."""
    if isinstance(value, _Step):
        return next(k for k in STEP_KINDS if k in type(value).model_fields)
    if not isinstance(value, dict):
        return None
    found = [k for k in STEP_KINDS if k in value]
    return found[0] if len(found) == 1 else None


Step = Annotated[
    Union[tuple(Annotated[cls, Tag(kind)] for kind, cls in STEP_TYPES.items())],  # noqa: UP007
    Discriminator(step_kind),
]


class Every(StrictModel):
    interval: Duration
    steps: list[Step] = Field(min_length=1)
    until: str | None = None          # a Jinja2 expression; updates stop once it is true
    max_updates: int | None = Field(default=None, ge=1)

    @field_validator("interval")
    @classmethod
    def _sane_interval(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("interval must be at least 1m: customers do not want updates "
                             "more often than that")
        return value


class Playbook(StrictModel):
    """One playbook file."""

    name: Name
    description: str | None = None
    trigger: Trigger | None = None     # None: started by hand with `orchestrator trigger`
    vars: dict[Name, Any] = {}
    templates: dict[Name, str] = {}
    on_start: list[Step] = []
    every: Every | None = None
    on_resolve: list[Step] = []

    @model_validator(mode="after")
    def _has_steps(self):
        if not (self.on_start or self.every or self.on_resolve):
            raise ValueError("a playbook needs at least one of on_start, every or on_resolve")
        return self

    def phases(self) -> list[tuple[str, list[Any]]]:
        """(data path prefix, steps) for every phase, in the order they run."""
        every = [("every", "steps"), self.every.steps] if self.every else None
        out = [(("on_start",), self.on_start)]
        if every:
            out.append((tuple(every[0]), every[1]))
        out.append((("on_resolve",), self.on_resolve))
        return out  # type: ignore[return-value]
