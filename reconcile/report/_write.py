"""Writing reports to files."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from reconcile.findings import Finding, Severity
from reconcile.report._csv import write_csv
from reconcile.report._document import sort_findings, write_json
from reconcile.report._html import FINDINGS_PER_GROUP, render_html
from reconcile.report._junit import render_junit
from reconcile.results import RunResult
from reconcile.store._story import EntityStory

__all__ = ["FORMATS", "report_stem", "write_atomically", "write_reports"]

#: Report formats and their file suffixes.
FORMATS = {"json": ".json", "csv": ".csv", "html": ".html", "junit": ".junit.xml"}


def report_stem(result: RunResult) -> str:
    """The file name of a run's reports without suffix: ``run-42``, or ``report`` without a store."""
    return f"run-{result.run_id}" if result.run_id is not None else "report"


@contextmanager
def _replacing(path: Path) -> Iterator[BinaryIO]:
    """A file to write ``path`` into: it replaces ``path`` only once it is whole.

    A reader (a web server, a mail job) sees the old file or the new, never half.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a reader sees the old file or the new, never half."""
    with _replacing(path) as handle:
        handle.write(data)


def write_reports(
    result: RunResult,
    directory: str | Path,
    formats: Iterable[str] = ("json", "html"),
    *,
    junit_min_severity: Severity | str = Severity.low,
    stories: Sequence[EntityStory] = (),
    html_findings_per_group: int | None = FINDINGS_PER_GROUP,
) -> dict[str, Path]:
    """Write a run's reports into ``directory`` (created if needed).

    Files are named after the run (``run-42.json``, ``run-42.html``,
    ``run-42.csv``, ``run-42.junit.xml``; ``report.*`` for a run without a
    store) and replaced atomically. JSON and CSV are written finding by
    finding, so their size does not hold the whole report in memory.

    Args:
        result: The run, from :func:`reconcile.run` or ``Store.run_result``.
        directory: Where to write.
        formats: Any of ``json`` (versioned schema), ``csv`` (one row per
            finding), ``html`` (one self-contained page), ``junit`` (JUnit XML
            for CI).
        junit_min_severity: Findings at or above it are failed tests in JUnit XML.
        stories: Customers' whole stories for the HTML page (``Store.stories_for(result)``).
        html_findings_per_group: Findings the HTML page lists per team and
            kind in each of its sections (all are counted; the JSON and CSV
            reports hold all of them); None lists every finding.

    Returns:
        The path written for each format, in the order asked.

    Raises:
        ValueError: an unknown format, or a negative ``html_findings_per_group``
            (nothing is written).
    """
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise ValueError(
            f"unknown report format{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(f) for f in unknown)}; allowed: {', '.join(sorted(FORMATS))}"
        )
    if html_findings_per_group is not None and html_findings_per_group < 0:
        raise ValueError(f"html_findings_per_group must be 0 or more, not {html_findings_per_group}")
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report_stem(result)
    paths = {fmt: out_dir / f"{stem}{FORMATS[fmt]}" for fmt in wanted}
    ordered: list[Finding] | None = None

    def in_order() -> list[Finding]:
        nonlocal ordered
        if ordered is None:
            ordered = sort_findings(list(result.findings))
        return ordered

    full = [paths[fmt].name for fmt in ("json", "csv") if fmt in paths]
    for fmt in wanted:
        with _replacing(paths[fmt]) as handle:
            if fmt == "json":
                write_json(result, handle, findings=in_order())
            elif fmt == "csv":
                # With a byte-order mark, Excel opens the file as UTF-8 (names with accents intact).
                text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
                write_csv(result, text, findings=in_order())
                text.flush()
                text.detach()
            elif fmt == "html":
                page = render_html(result, stories=stories, per_group=html_findings_per_group,
                                   full_reports=" and ".join(full) or None)
                handle.write(page.encode("utf-8"))
            else:
                handle.write(render_junit(result, Severity(junit_min_severity)))
    return paths
