"""Cross-checks a playbook against the config: names exist, capabilities fit, templates compile."""

from __future__ import annotations

from typing import Any

from channels.registry import channel_class
from orchestrator.config import Config
from orchestrator.playbook.model import (
    ApprovalStep,
    NotifyStep,
    PausePostsStep,
    Playbook,
    PostStep,
    ResumePostsStep,
    StatusPageStep,
    WebhookStep,
    step_kind,
)
from orchestrator.playbook.templates import check_template, is_static
from orchestrator.problems import Path, Problem, unknown_name
from orchestrator.yamlsource import Source


class PlaybookChecker:
    """Adds every cross-reference and template problem of one playbook to its Source."""

    def __init__(self, playbook: Playbook, config: Config, source: Source):
        self.pb, self.config, self.source = playbook, config, source
        self.var_names = frozenset(playbook.vars)

    def run(self) -> None:
        if self.pb.trigger:
            for i, name in enumerate(self.pb.trigger.platforms):
                self._exists(("trigger", "platforms", i), "platform", name, self.config.platforms)
        for name, text in self.pb.templates.items():
            self._template(("templates", name), text)
        for prefix, steps in self.pb.phases():
            for index, step in enumerate(steps):
                self._step((*prefix, index), step)
        if self.pb.every and self.pb.every.until:
            self._template(("every", "until"), self.pb.every.until, expression=True)

    # -- helpers -----------------------------------------------------------------------

    def _error(self, path: Path, message: str, severity: str = "error") -> None:
        self.source.problem(path, message, severity=severity)

    def _exists(self, path: Path, what: str, name: str, known: Any) -> bool:
        if name in known:
            return True
        self._error(path, unknown_name(what, name, known))
        return False

    def _template(self, path: Path, text: str, *, expression: bool = False) -> None:
        line0, col0 = self.source.locate(path)
        block = self.source.styles.get(path) in ("|", ">")
        for issue in check_template(text, self.var_names, expression=expression,
                                    tz_name=self.config.timezone):
            line = line0 + issue.line - 1 + (1 if block else 0)
            col = col0 if issue.line == 1 and not block else 1
            self.source.problems.append(Problem(self.source.file, line, col, path, issue.message))

    def _channel(self, path: Path, name: str, *, need: str) -> Any:
        """The channel class if `name` exists and can do `need` (broadcast|direct|any)."""
        if not self._exists(path, "channel", name, self.config.channels):
            return None
        config = self.config.channels[name]
        cls = channel_class(config.kind)
        if not config.enabled:
            self._error(path, f"channel {name!r} is disabled in the config: this step will be "
                        "skipped", "warning")
        if need == "broadcast" and not cls.capabilities.broadcast:
            self._error(path, f"channel {name!r} ({config.kind}) sends direct messages only and "
                        "cannot publish a post; use notify with an audience")
        if need == "direct" and not cls.capabilities.direct:
            self._error(path, f"channel {name!r} ({config.kind}) cannot message individual "
                        "recipients; use post to publish on it")
        return cls

    def _content(self, path: Path, args: Any, targets: list[tuple[str, Any]]) -> None:
        """Check a step's template/text, and a static text's length against each target."""
        if args.template is not None:
            if not self._exists((*path, "template"), "template", args.template, self.pb.templates):
                return
            text, text_path = self.pb.templates[args.template], (*path, "template")
        else:
            text, text_path = args.text, (*path, "text")
            self._template(text_path, text)
        if not is_static(text):
            return
        for name, cls in targets:
            limit = cls.capabilities.max_length
            if limit is not None and len(text.strip()) > limit:
                self._error(text_path, f"text is {len(text.strip())} characters; channel {name!r} "
                            f"allows {limit}")

    # -- steps -------------------------------------------------------------------------

    def _step(self, path: Path, step: Any) -> None:
        kind = step_kind(step)
        args_path = (*path, kind)
        if step.when:
            self._template((*path, "when"), step.when, expression=True)
        if isinstance(step, NotifyStep):
            self._notify(args_path, step.notify)
        elif isinstance(step, PostStep):
            self._post(args_path, step.post)
        elif isinstance(step, PausePostsStep | ResumePostsStep):
            self._selector(args_path, getattr(step, kind))
        elif isinstance(step, StatusPageStep):
            self._content(args_path, step.status_page, [])
        elif isinstance(step, ApprovalStep):
            self._template((*args_path, "message"), step.approval.message)
        elif isinstance(step, WebhookStep):
            for key, value in step.webhook.json_body.items():
                if isinstance(value, str):
                    self._template((*args_path, "json", key), value)

    def _selector(self, path: Path, args: Any) -> None:
        for i, name in enumerate(args.channels):
            self._exists((*path, "channels", i), "channel", name, self.config.channels)
        for i, name in enumerate(args.platforms):
            self._exists((*path, "platforms", i), "platform", name, self.config.platforms)
        if hasattr(args, "reason"):
            self._template((*path, "reason"), args.reason)

    def _notify(self, path: Path, args: Any) -> None:
        targets = []
        cls = self._channel((*path, "channel"), args.channel, need="direct")
        if cls is not None:
            targets.append((args.channel, cls))
        for i, name in enumerate(args.fallback):
            fallback = self._channel((*path, "fallback", i), name, need="direct")
            if fallback is not None:
                targets.append((name, fallback))
        self._exists((*path, "audience"), "audience", args.audience, self.config.audiences)
        if args.subject is not None:
            self._template((*path, "subject"), args.subject)
        self._content(path, args, targets)

    def _post(self, path: Path, args: Any) -> None:
        if isinstance(args.to, list):
            targets = []
            for i, name in enumerate(args.to):
                cls = self._channel((*path, "to", i), name, need="broadcast")
                if cls is not None:
                    targets.append((name, cls))
        else:
            targets = [(name, channel_class(c.kind)) for name, c in self.config.channels.items()
                       if c.enabled and channel_class(c.kind).capabilities.broadcast]
        self._content(path, args, targets)

