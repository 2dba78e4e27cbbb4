"""Gatus-style conditions: parse errors with exact text, and evaluation on fixed facts."""

from __future__ import annotations

import json

import pytest

from orchestrator.monitors.conditions import Facts, Unreadable, evaluate, parse_condition
from orchestrator.monitors.jsonpath import Missing, lookup, parse_path

BODY = {"status": {"indicator": "minor", "description": "Minor Service Outage"},
        "items": [{"id": 1}, {"id": 2}], "empty": [], "flag": True, "count": "42",
        "dotted.key": "x"}


def facts(body=BODY, status=200, ms=120.0, connected=True) -> Facts:
    text = body if isinstance(body, str) else json.dumps(body)

    def parsed():
        try:
            return json.loads(text)
        except ValueError:
            raise Unreadable("expected JSON") from None

    return Facts(status=status, response_time_ms=ms, connected=connected, body_text=text,
                 json=parsed)


@pytest.mark.parametrize("text, passed", [
    ("[STATUS] == 200", True),
    ("[STATUS]==200", True),
    ("[STATUS] != 200", False),
    ("[STATUS] < 300", True),
    ("[STATUS] >= 500", False),
    ("[RESPONSE_TIME] < 500", True),
    ("[RESPONSE_TIME] <= 119", False),
    ("[CONNECTED] == true", True),
    ("[BODY].status.indicator == minor", True),
    ("[BODY].status.indicator == any(none, minor)", True),
    ("[BODY].status.indicator == any(none, major)", False),
    ("[BODY].status.indicator != any(major, critical)", True),
    ("[BODY].status.description == pat(*Outage)", True),
    ("[BODY].status.description == \"Minor Service Outage\"", True),
    ("len([BODY].items) > 0", True),
    ("len([BODY].items) == 2", True),
    ("len([BODY].empty) > 0", False),
    ("has([BODY].status) == true", True),
    ("has([BODY].nope.deeper) == false", True),
    ("[BODY].items[1].id == 2", True),
    ("[BODY].items[-1].id == 2", True),
    ("[BODY].flag == true", True),
    ("[BODY].count > 41", True),
    ("[BODY].count == 42.0", True),
    ('[BODY]["dotted.key"] == x', True),
    ("[BODY] == pat(*indicator*)", True),
    ("[BODY].status.indicator > 3", False),
])
def test_evaluation(text, passed):
    assert evaluate(parse_condition(text), facts())[0] is passed


def test_shown_result_names_the_actual_value():
    passed, shown = evaluate(parse_condition("[STATUS] == 200"), facts(status=503))
    assert (passed, shown) == (False, "[STATUS] (503) == 200")
    _, shown = evaluate(parse_condition("[BODY].status.indicator == any(none)"), facts())
    assert shown == "[BODY].status.indicator (minor) == any(none)"


def test_missing_path_means_the_response_cannot_be_judged():
    with pytest.raises(Unreadable, match=r"\[BODY\].status.colour is not in the response"):
        evaluate(parse_condition("[BODY].status.colour == red"), facts())


def test_body_path_on_html_cannot_be_judged():
    with pytest.raises(Unreadable, match="expected JSON"):
        evaluate(parse_condition("[BODY].status == ok"), facts(body="<html></html>"))


@pytest.mark.parametrize("text, message", [
    pytest.param("", "empty condition: write it as [STATUS] == 200", id="empty"),
    pytest.param("[STATUS] 200", "expected an operator (==, !=, <=, >=, <, >) in "
                 "'[STATUS] 200', as in [STATUS] == 200", id="no-operator"),
    pytest.param("[STATUSS] == 200", "unknown placeholder [STATUSS] at column 1 of "
                 "'[STATUSS] == 200' (did you mean [STATUS]?); expected one of [STATUS], "
                 "[RESPONSE_TIME], [CONNECTED], [BODY]", id="typo"),
    pytest.param("[STATUS] ==", "expected a value after '==' at column 12 of '[STATUS] =='",
                 id="no-right"),
    pytest.param("== 200", "expected a value before '==' at column 1 of '== 200'",
                 id="no-left"),
    pytest.param("[STATUS].code == 200", "only [BODY] takes a path; found '.code' after "
                 "[STATUS] at column 1 of '[STATUS].code == 200'", id="path-on-status"),
    pytest.param("[BODY].a..b == 1", "expected a key name at column 3 of path 'a..b', "
                 "found '.' (in '[BODY].a..b == 1')", id="double-dot"),
    pytest.param("[BODY].items[x] == 1", "expected [number] or [\"key\"] at column 6 of path "
                 "'items[x]' (in '[BODY].items[x] == 1')", id="bad-index"),
    pytest.param("[BODY]x == 1", "expected '.' or '[' after [BODY] at column 7 of "
                 "'[BODY]x == 1'", id="body-junk"),
    pytest.param("size([BODY].items) > 0", "unknown function size() at column 1 of "
                 "'size([BODY].items) > 0'; expected len(), has(), any() or pat()",
                 id="unknown-function"),
    pytest.param("len(items) > 0", "expected a placeholder such as [BODY].items inside len() "
                 "at column 1 of 'len(items) > 0'", id="len-no-placeholder"),
    pytest.param("any(1, 2) == [STATUS]", "any() belongs on the right of the operator "
                 "(column 1 of 'any(1, 2) == [STATUS]')", id="any-on-left"),
    pytest.param("[STATUS] < any(1, 2)", "any(...) only works with == or != in "
                 "'[STATUS] < any(1, 2)'", id="any-with-ordering"),
    pytest.param("1 == 1", "'1 == 1' compares two constants: one side must be [STATUS], "
                 "[RESPONSE_TIME], [CONNECTED], [BODY]..., len(...) or has(...)",
                 id="constants"),
])
def test_parse_errors(text, message):
    with pytest.raises(ValueError) as info:
        parse_condition(text)
    assert str(info.value) == message


def test_paths():
    assert parse_path('data[0].tweet_count') == ("data", 0, "tweet_count")
    assert parse_path('["a.b"].c') == ("a.b", "c")
    assert lookup({"a": [{"b": None}]}, parse_path("a[0].b")) is None
    with pytest.raises(Missing) as info:
        lookup({"a": [1]}, parse_path("a[3].b"))
    assert info.value.where == "a[3]"
    with pytest.raises(ValueError, match="path 'a.' ends with '.'"):
        parse_path("a.")
