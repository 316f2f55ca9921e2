"""Writing reports to files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from reconcile.findings import Severity
from reconcile.report._csv import render_csv
from reconcile.report._document import build_document
from reconcile.report._html import render_html
from reconcile.report._junit import render_junit
from reconcile.results import RunResult
from reconcile.store._story import EntityStory

__all__ = ["FORMATS", "report_stem", "write_atomically", "write_reports"]

#: Report formats and their file suffixes.
FORMATS = {"json": ".json", "csv": ".csv", "html": ".html", "junit": ".junit.xml"}


def report_stem(result: RunResult) -> str:
    """The file name of a run's reports without suffix: ``run-42``, or ``report`` without a store."""
    return f"run-{result.run_id}" if result.run_id is not None else "report"


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a reader sees the old file or the new, never half."""
    # A reader (a web server, a mail job) never sees half a report.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_reports(
    result: RunResult,
    directory: str | Path,
    formats: Iterable[str] = ("json", "html"),
    *,
    junit_min_severity: Severity | str = Severity.low,
    stories: Sequence[EntityStory] = (),
) -> dict[str, Path]:
    """Write a run's reports into ``directory`` (created if needed).

    Files are named after the run (``run-42.json``, ``run-42.html``,
    ``run-42.csv``, ``run-42.junit.xml``; ``report.*`` for a run without a
    store) and replaced atomically.

    Args:
        result: The run, from :func:`reconcile.run` or ``Store.run_result``.
        directory: Where to write.
        formats: Any of ``json`` (versioned schema), ``csv`` (one row per
            finding), ``html`` (one self-contained page), ``junit`` (JUnit XML
            for CI).
        junit_min_severity: Findings at or above it are failed tests in JUnit XML.
        stories: Customers' whole stories for the HTML page (``Store.stories_for(result)``).

    Returns:
        The path written for each format, in the order asked.

    Raises:
        ValueError: an unknown format (nothing is written).
    """
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise ValueError(
            f"unknown report format{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(f) for f in unknown)}; allowed: {', '.join(sorted(FORMATS))}"
        )
    renderers: dict[str, Callable[[], bytes]] = {
        "json": lambda: (build_document(result).model_dump_json(indent=2) + "\n").encode("utf-8"),
        # With a byte-order mark, Excel opens the file as UTF-8 (names with accents intact).
        "csv": lambda: render_csv(result).encode("utf-8-sig"),
        "html": lambda: render_html(result, stories=stories).encode("utf-8"),
        "junit": lambda: render_junit(result, Severity(junit_min_severity)),
    }
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = report_stem(result)
    written: dict[str, Path] = {}
    for fmt in wanted:
        path = out_dir / f"{stem}{FORMATS[fmt]}"
        write_atomically(path, renderers[fmt]())
        written[fmt] = path
    return written
