"""Loads config and playbook files into models, collecting every located problem on the way."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.config import Config
from orchestrator.errors import ConfigError
from orchestrator.playbook.model import Playbook
from orchestrator.problems import Problem, unknown_name
from orchestrator.validation import validate
from orchestrator.yamlsource import Source, read_yaml

PLAYBOOK_SUFFIXES = (".yaml", ".yml")


def _check_config(config: Config, source: Source) -> None:
    seen: dict[str, int] = {}
    for i, monitor in enumerate(config.monitors):
        if monitor.name in seen:
            source.problem(("monitors", i, "name"), f"monitor name {monitor.name!r} is already "
                           f"used by monitors[{seen[monitor.name]}]")
        seen.setdefault(monitor.name, i)
        if monitor.platform not in config.platforms:
            source.problem(("monitors", i, "platform"),
                           unknown_name("platform", monitor.platform, config.platforms))
    base = Path(source.file).parent
    for name, audience in config.audiences.items():
        if audience.source == "csv" and not (base / audience.path).exists():
            source.problem(("audiences", name, "path"), f"file not found: {audience.path} "
                           f"(relative to {base or '.'})", severity="warning")


def read_config(path: Path, env: Mapping[str, str] | None = None, *,
                missing_env: str = "error") -> tuple[Config | None, Source]:
    """Parse and validate a config file; the Source carries any problems found.

    `missing_env="warning"` (used by `validate`) reports unset ${VARS} without failing: the
    file is sound, only this shell lacks the secret; every other command needs them set.
    """
    source = read_yaml(path, env=os.environ if env is None else env, missing_env=missing_env)
    if source.problems and source.data is None:
        return None, source
    config = validate(Config, source)
    if config is not None:
        _check_config(config, source)
    return (config if not _errors(source.problems) else None), source


def load_config_file(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """The config, or ConfigError listing every problem."""
    config, source = read_config(path, env)
    if config is None:
        raise ConfigError(source.problems)
    return config


def read_playbook(path: Path, config: Config | None) -> tuple[Playbook | None, Source]:
    """Parse, validate and (given a config) cross-check one playbook file."""
    source = read_yaml(path)
    if source.problems and source.data is None:
        return None, source
    playbook = validate(Playbook, source)
    if playbook is not None and config is not None:
        from orchestrator.playbook.checks import PlaybookChecker
        PlaybookChecker(playbook, config, source).run()
    return (playbook if not _errors(source.problems) else None), source


def load_playbook(path: Path, config: Config) -> Playbook:
    playbook, source = read_playbook(path, config)
    if playbook is None:
        raise ConfigError(source.problems)
    return playbook


def playbook_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in PLAYBOOK_SUFFIXES and p.is_file())


@dataclass
class Report:
    """The outcome of validating a config and its playbooks."""

    config: Config | None = None
    playbooks: dict[str, Playbook] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return _errors(self.problems)


def _errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def validate_all(config_path: Path, playbook_paths: list[Path] | None = None,
                 env: Mapping[str, str] | None = None) -> Report:
    """Validate the config, then the given playbooks (default: the config's playbooks folder)."""
    report = Report()
    report.config, source = read_config(config_path, env, missing_env="warning")
    report.problems.extend(source.problems)
    report.files.append(str(config_path))
    if playbook_paths is None:
        folder = Path(report.config.playbooks if report.config else "playbooks")
        if not folder.is_absolute():
            folder = config_path.parent / folder
        playbook_paths = playbook_files(folder)
    for path in _expand(playbook_paths):
        report.files.append(str(path))
        playbook, pb_source = read_playbook(path, report.config)
        report.problems.extend(pb_source.problems)
        if playbook is None:
            continue
        if playbook.name in report.playbooks:
            pb_source.problem(("name",), f"playbook name {playbook.name!r} is already used by "
                              "another file")
            report.problems.append(pb_source.problems[-1])
            continue
        report.playbooks[playbook.name] = playbook
    report.problems.sort(key=lambda p: (p.file, p.line, p.col))
    return report


def _expand(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        out.extend(playbook_files(path) if path.is_dir() else [path])
    return out
