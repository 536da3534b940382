"""The settings document is bounded before it is built (issue 18, found 4): no YAML aliases or anchors, a size cap
and a depth limit (JSON is read through the same loader), and bytes that are not UTF-8 are refused plainly."""

from __future__ import annotations

import json
import time

import pytest

from cmsf.configuration import MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH, ConfigError, parse, read_document

ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)]
    + ["sync: *i"]
)


def test_an_alias_bomb_is_refused_at_once():
    started = time.monotonic()
    with pytest.raises(ConfigError, match="aliases and anchors"):
        parse(ALIAS_BOMB)
    assert time.monotonic() - started < 1


def test_a_single_anchor_or_alias_is_refused_too():
    with pytest.raises(ConfigError, match="aliases and anchors"):
        parse("sync: &s {import_frequency: hourly}\n")
    with pytest.raises(ConfigError, match="aliases and anchors"):
        parse("sync: {import_frequency: *x}\n")


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_deep_nesting_is_refused_without_a_recursion_error(fmt):
    deep = 100_000
    text = (
        "[" * deep + "]" * deep
        if fmt == "json"
        else json.dumps({"sync": 1})[:-1] + ', "x": ' + "[" * deep + "]" * deep + "}"
    )
    with pytest.raises(ConfigError, match=f"more than {MAX_DOCUMENT_DEPTH} levels"):
        parse(text)


def test_nesting_within_the_limit_is_read():
    assert parse("a:\n  b:\n    c: [1, [2, [3]]]\n") == {"a": {"b": {"c": [1, [2, [3]]]}}}


def test_a_document_over_the_size_cap_is_refused_before_parsing():
    with pytest.raises(ConfigError, match="larger than 5 MB"):
        read_document(b"# " + b"x" * MAX_DOCUMENT_BYTES)
    with pytest.raises(ConfigError, match="larger than 5 MB"):
        parse("#" * (MAX_DOCUMENT_BYTES + 1))


def test_bytes_that_are_not_utf8_are_refused_plainly():
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 6 is not\)"):
        read_document(b"sync: \xff\xfe\n")
    assert read_document(b"sync: {import_frequency: daily}\n") == {"sync": {"import_frequency": "daily"}}
