"""Every broken fixture yields exactly the located error text stored beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.loader import read_config, validate_all

FIXTURES = Path(__file__).parent.parent / "fixtures"
BROKEN = FIXTURES / "broken"
VALID_CONFIG = FIXTURES / "valid" / "config.yaml"


def _relative(problems, file: Path) -> list[str]:
    prefix = f"{file}:"
    return [str(p).removeprefix(prefix) for p in problems]


def _expected(fixture: Path) -> list[str]:
    return fixture.with_suffix(".expected").read_text().splitlines()


def config_problems(path: Path) -> list[str]:
    _, source = read_config(path, env={}, missing_env="warning")
    return _relative(source.problems, path)


def playbook_problems(path: Path) -> list[str]:
    report = validate_all(VALID_CONFIG, [path], env={})
    assert not [p for p in report.problems if p.file != str(path)], "the fixture config is broken"
    return _relative(report.problems, path)


@pytest.mark.parametrize("fixture", sorted((BROKEN / "playbooks").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_broken_playbook(fixture: Path) -> None:
    assert playbook_problems(fixture) == _expected(fixture)


@pytest.mark.parametrize("fixture", sorted((BROKEN / "config").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_broken_config(fixture: Path) -> None:
    assert config_problems(fixture) == _expected(fixture)


def test_there_are_at_least_25_distinct_errors() -> None:
    messages = set()
    for expected in BROKEN.glob("*/*.expected"):
        messages.update(line.split(": ", 2)[-1] for line in expected.read_text().splitlines())
    assert len(messages) >= 25


def test_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("name: big\ndescription: " + "x" * (1024 * 1024) + "\n")
    assert playbook_problems(big) == [
        "1:1: (top level): file is 1,048,600 bytes; the limit is 1,048,576 (1 MiB)"]


def test_nesting_deeper_than_32_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("name: deep\nvars:\n  x: " + "[" * 32 + "]" * 32 + "\n")
    [problem] = playbook_problems(deep)
    assert problem.startswith("3:36: vars.x[0]")
    assert problem.endswith(": nesting deeper than 32 levels is not allowed")
    shallow = tmp_path / "shallow.yaml"
    shallow.write_text("name: shallow\nvars:\n  x: " + "[" * 30 + "]" * 30
                       + "\non_start: [{wait: {duration: 1m}}]\n")
    assert playbook_problems(shallow) == []


def test_every_problem_in_a_file_is_reported(tmp_path: Path) -> None:
    many = tmp_path / "many.yaml"
    many.write_text(
        "name: many\n"
        "trigger: {platforms: [facebok], sustained_for: soon}\n"
        "on_start:\n"
        "  - notify: {channel: smss, audience: vipp, text: hi}\n"
        "  - post: {to: [x], text: '{{ platfrom.name }}'}\n"
    )
    problems = playbook_problems(many)
    assert [p.split(": ")[1] for p in problems] == ["trigger.sustained_for"]
    # Cross-checks run only on a structurally valid playbook; fix the duration and see them all.
    many.write_text(many.read_text().replace("soon", "3m"))
    assert [p.split(": ")[1] for p in playbook_problems(many)] == [
        "trigger.platforms[0]", "on_start[0].notify.channel", "on_start[0].notify.audience",
        "on_start[1].post.text"]


def test_unset_environment_variable_is_an_error_outside_validate(tmp_path: Path) -> None:
    config = BROKEN / "config" / "unset-env.yaml"
    _, source = read_config(config, env={})
    assert _relative(source.problems, config) == [
        "2:36: channels.email.api_key: environment variable ORCH_TEST_SURELY_UNSET_VAR is not "
        "set (export it, or write ${ORCH_TEST_SURELY_UNSET_VAR:-default})"]
