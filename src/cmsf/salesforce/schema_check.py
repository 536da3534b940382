"""Compare an org with the SFDX source in `sfdx/`: which objects and fields cmsf needs are missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cmsf.salesforce.adapter import SalesforceAdapter
from cmsf.salesforce.errors import FatalError
from cmsf.salesforce.sfdx import read_objects


@dataclass
class SchemaReport:
    missing_objects: list[str] = field(default_factory=list)
    missing_fields: list[str] = field(default_factory=list)  # "Object.Field"
    checked_fields: int = 0

    @property
    def ok(self) -> bool:
        return not self.missing_objects and not self.missing_fields

    def lines(self) -> list[str]:
        return [f"missing object {o}" for o in self.missing_objects] + [
            f"missing field {f}" for f in self.missing_fields
        ]


def check_schema(adapter: SalesforceAdapter, source_dir: Path | None = None) -> SchemaReport:
    """One describe per object of the source (plus one describe global)."""
    report = SchemaReport()
    available = {o["name"] for o in adapter.describe_global().get("sobjects", ())}
    for spec in read_objects(source_dir).values():
        if spec.name not in available:
            report.missing_objects.append(spec.name)
            continue
        try:
            fields = {f["name"] for f in adapter.describe(spec.name).get("fields", ())}
        except FatalError:
            report.missing_objects.append(spec.name)
            continue
        for name in spec.fields:
            report.checked_fields += 1
            if name not in fields:
                report.missing_fields.append(f"{spec.name}.{name}")
    return report
