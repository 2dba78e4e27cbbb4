"""Property: mutated valid playbooks never crash the loader; each loads or yields located errors."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.loader import read_config, read_playbook
from orchestrator.yamlsource import parse_yaml

ROOT = Path(__file__).parent.parent.parent
CONFIG, _ = read_config(ROOT / "config.example.yaml", env={}, missing_env="warning")
PLAYBOOK_TEXTS = [p.read_text() for p in sorted((ROOT / "playbooks").glob("*.yaml"))]

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
    st.text(max_size=30), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
    st.sampled_from(["{{ x", "{{ platform.__class__ }}", "3m", "2h", "smss", "{% if %}",
                     "*alias", "&anchor x", "!!python/name:os.system", "surviving"]),
)


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _paths(value, (*prefix, i))


def _mutate(data, path, action, value):
    if not path:
        return value if action == "replace" else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "rename" and isinstance(last, str):
        parent[last + "x"] = parent.pop(last)
    else:
        parent[last] = value
    return data


def _check_text(text: str, tmp: Path) -> None:
    path = tmp / "mutant.yaml"
    path.write_text(text)
    playbook, source = read_playbook(path, CONFIG)
    errors = [p for p in source.problems if p.severity == "error"]
    assert (playbook is None) == bool(errors)
    lines = max(1, len(text.splitlines()))
    for problem in source.problems:
        assert problem.file == str(path)
        assert 1 <= problem.line <= lines + 1
        assert problem.col >= 1 and problem.message


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_structural_mutations_load_or_locate(tmp_path: Path, data) -> None:
    original = yaml.safe_load(data.draw(st.sampled_from(PLAYBOOK_TEXTS)))
    path = data.draw(st.sampled_from(list(_paths(original))))
    action = data.draw(st.sampled_from(["replace", "delete", "rename"]))
    value = data.draw(junk)
    try:
        mutated = _mutate(original, path, action, value)
    except (KeyError, IndexError, TypeError):
        return
    text = yaml.safe_dump(mutated, sort_keys=False) if not isinstance(value, str) or \
        not value.startswith(("*", "&", "!!")) else yaml.safe_dump(mutated).replace(
            repr(value), value)
    _check_text(text, tmp_path)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_textual_mutations_load_or_locate(tmp_path: Path, data) -> None:
    text = data.draw(st.sampled_from(PLAYBOOK_TEXTS))
    position = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 20))
    insert = data.draw(st.sampled_from(["", ":", "- ", "{", "}", "[", "\t", "&a ", "*a", "'",
                                        '"', "\n  ", "{{", "%}", "!!binary ", "<<: "]))
    _check_text(text[:position] + insert + text[position + cut:], tmp_path)


@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    source = parse_yaml(text, "x.yaml")
    for problem in source.problems:
        assert problem.line >= 1 and problem.col >= 1
