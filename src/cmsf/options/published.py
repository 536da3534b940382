"""The published report the shipped industry benchmarks come from (options/data/industry_benchmarks.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class PublishedSource:
    title: str
    url: str
    year: int
    industries: int


@cache
def benchmark_source() -> PublishedSource:
    text = resources.files("cmsf.options.data").joinpath("industry_benchmarks.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    source = data["source"]
    return PublishedSource(
        title=source["title"], url=source["url"], year=int(source["year"]), industries=len(data["industries"])
    )
