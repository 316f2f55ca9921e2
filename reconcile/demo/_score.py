"""Score a run's findings against the demo world's ground truth."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconcile.demo._generate import KINDS

__all__ = ["KindScore", "Score", "TruthItem", "read_truth", "score"]


@dataclass(frozen=True)
class TruthItem:
    """One expected finding (or near miss, or reported finding) by its subject."""

    kind: str
    source: str
    record_type: str
    key: str
    detail_key: str = ""
    customer_id: str = ""
    note: str = ""

    @property
    def subject(self) -> tuple[str, str, str, str]:
        """What a finding is matched on: kind and subject record."""
        return (self.kind, self.source, self.record_type, self.key)

    def __str__(self) -> str:
        who = f" ({self.customer_id})" if self.customer_id else ""
        note = f": {self.note}" if self.note else ""
        return f"{self.kind} {self.source}:{self.record_type}:{self.key}{who}{note}"


@dataclass
class KindScore:
    """Counts and unmatched items of one finding kind."""

    kind: str
    true_positives: list[TruthItem] = field(default_factory=list)
    false_positives: list[TruthItem] = field(default_factory=list)
    false_negatives: list[TruthItem] = field(default_factory=list)

    @property
    def tp(self) -> int:
        return len(self.true_positives)

    @property
    def fp(self) -> int:
        return len(self.false_positives)

    @property
    def fn(self) -> int:
        return len(self.false_negatives)

    @property
    def precision(self) -> float:
        """Share of reported findings that are expected (1.0 when none was reported)."""
        reported = self.tp + self.fp
        return self.tp / reported if reported else 1.0

    @property
    def recall(self) -> float:
        """Share of expected findings that were reported (1.0 when none was expected)."""
        expected = self.tp + self.fn
        return self.tp / expected if expected else 1.0


@dataclass
class Score:
    """Per-kind precision and recall of a run against the truth.

    Attributes:
        kinds: Kind -> its score; every shipped kind is present.
        near_miss_hits: Reported findings that are listed near misses (each
            is also a false positive of its kind).
    """

    kinds: dict[str, KindScore]
    near_miss_hits: list[TruthItem] = field(default_factory=list)

    def _kind(self, kind: str) -> KindScore:
        return self.kinds.get(kind) or KindScore(kind)

    def precision(self, kind: str | None = None) -> float:
        """Precision of one kind, or over every kind when ``kind`` is None."""
        if kind is not None:
            return self._kind(kind).precision
        tp = sum(k.tp for k in self.kinds.values())
        reported = tp + sum(k.fp for k in self.kinds.values())
        return tp / reported if reported else 1.0

    def recall(self, kind: str | None = None) -> float:
        """Recall of one kind, or over every kind when ``kind`` is None."""
        if kind is not None:
            return self._kind(kind).recall
        tp = sum(k.tp for k in self.kinds.values())
        expected = tp + sum(k.fn for k in self.kinds.values())
        return tp / expected if expected else 1.0

    @property
    def perfect(self) -> bool:
        """Every expected finding reported and nothing else."""
        return all(k.fp == 0 and k.fn == 0 for k in self.kinds.values())

    def table(self, max_listed: int = 10) -> str:
        """A plain-text table per kind, then the unmatched findings (at most ``max_listed`` per list)."""
        header = f"{'kind':<24} {'expected':>8} {'reported':>8} {'TP':>6} {'FP':>6} {'FN':>6} {'precision':>9} {'recall':>7}"
        lines = [header, "-" * len(header)]
        for name in sorted(self.kinds, key=_kind_order):
            k = self.kinds[name]
            lines.append(
                f"{name:<24} {k.tp + k.fn:>8} {k.tp + k.fp:>8} {k.tp:>6} {k.fp:>6} {k.fn:>6} "
                f"{k.precision:>9.3f} {k.recall:>7.3f}"
            )
        tp = sum(k.tp for k in self.kinds.values())
        fp = sum(k.fp for k in self.kinds.values())
        fn = sum(k.fn for k in self.kinds.values())
        lines.append("-" * len(header))
        lines.append(
            f"{'all kinds':<24} {tp + fn:>8} {tp + fp:>8} {tp:>6} {fp:>6} {fn:>6} "
            f"{self.precision():>9.3f} {self.recall():>7.3f}"
        )
        for title, attribute in (("Reported but not expected", "false_positives"),
                                 ("Expected but not reported", "false_negatives")):
            items = [item for name in sorted(self.kinds, key=_kind_order)
                     for item in getattr(self.kinds[name], attribute)]
            if not items:
                continue
            lines.append("")
            lines.append(f"{title} ({len(items)}):")
            for item in items[:max_listed]:
                lines.append(f"  - {item}")
            if len(items) > max_listed:
                lines.append(f"  ... and {len(items) - max_listed} more")
        if self.near_miss_hits:
            lines.append("")
            lines.append(f"Near misses reported as findings ({len(self.near_miss_hits)}):")
            for item in self.near_miss_hits[:max_listed]:
                lines.append(f"  - {item}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _kind_order(kind: str) -> tuple[int, str]:
    return (KINDS.index(kind) if kind in KINDS else len(KINDS), kind)


def read_truth(path: str | Path) -> list[TruthItem]:
    """Read ``findings.csv`` or ``near_misses.csv`` of a demo world's truth folder."""
    with Path(path).open(encoding="utf-8", newline="") as fh:
        return [
            TruthItem(
                kind=row["kind"],
                source=row["source"],
                record_type=row["record_type"],
                key=row["key"],
                detail_key=row.get("detail_key") or "",
                customer_id=row.get("customer_id") or "",
                note=row.get("note") or "",
            )
            for row in csv.DictReader(fh)
        ]


def _reported(finding: Any) -> TruthItem:
    """A finding (object or mapping, as in the JSON report) as a :class:`TruthItem`."""
    if isinstance(finding, Mapping):
        subject = finding["subject"]
        return TruthItem(
            kind=str(finding["kind"]),
            source=str(subject["source"]),
            record_type=str(subject["record_type"]),
            key=str(subject["key"]),
            detail_key=str(finding.get("detail_key") or ""),
            note=str(finding.get("story") or ""),
        )
    subject = finding.subject
    return TruthItem(
        kind=str(finding.kind),
        source=str(subject.source),
        record_type=str(subject.record_type),
        key=str(subject.key),
        detail_key=str(getattr(finding, "detail_key", "") or ""),
        note=str(getattr(finding, "story", "") or ""),
    )


def score(findings: Iterable[Any], truth_dir: str | Path) -> Score:
    """Compare reported findings with the truth of a demo world.

    A reported finding matches an expected one when the kind and the subject
    record (source, record type, key) are the same; a finding reported twice
    counts once.

    Args:
        findings: Objects with ``.kind`` and ``.subject`` (``.source``,
            ``.record_type``, ``.key``), such as
            :class:`~reconcile.findings.Finding`, or mappings of the same shape.
        truth_dir: The world's ``truth`` folder.

    Returns:
        Per-kind true positives, false positives and false negatives.
    """
    truth_dir = Path(truth_dir)
    expected = {item.subject: item for item in read_truth(truth_dir / "findings.csv")}
    near_path = truth_dir / "near_misses.csv"
    near = {item.subject: item for item in read_truth(near_path)} if near_path.is_file() else {}
    reported: dict[tuple[str, str, str, str], TruthItem] = {}
    for finding in findings:
        item = _reported(finding)
        reported.setdefault(item.subject, item)
    kinds = {kind: KindScore(kind) for kind in KINDS}
    for item in (*expected.values(), *reported.values()):
        kinds.setdefault(item.kind, KindScore(item.kind))
    result = Score(kinds=kinds)
    for subject, item in reported.items():
        truth = expected.get(subject)
        if truth is not None:
            kinds[item.kind].true_positives.append(truth)
        else:
            kinds[item.kind].false_positives.append(item)
            if subject in near:
                result.near_miss_hits.append(near[subject])
    for subject, truth in expected.items():
        if subject not in reported:
            kinds[truth.kind].false_negatives.append(truth)
    return result
