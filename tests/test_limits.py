"""The README's limits table is ivr/limits.py: every limit listed, with its value."""

from __future__ import annotations

import re

import ivr.limits

from .test_readme import README


def declared() -> dict[str, int | float]:
    return {
        name: value
        for name, value in vars(ivr.limits).items()
        if name.isupper() and isinstance(value, int | float)
    }


def shown(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def test_the_readme_lists_every_limit_with_its_value() -> None:
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", README, re.M))
    assert {name: value.strip() for name, value in rows.items()} == {
        name: shown(value) for name, value in declared().items()
    }


def test_every_limit_is_positive_and_finite() -> None:
    for name, value in declared().items():
        assert 0 < value < float("inf"), name
    assert ivr.limits.SAMPLE_RATE_MIN < ivr.limits.SAMPLE_RATE_MAX
