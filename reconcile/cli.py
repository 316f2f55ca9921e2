"""The ``reconcile`` command line.

Exit codes (see :class:`ExitCode`) are part of the interface: cron jobs and CI
pipelines act on them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from enum import IntEnum
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from reconcile._version import __version__
from reconcile.errors import ConfigError, ReconcileError, RunError
from reconcile.findings import Severity

__all__ = ["ExitCode", "main"]


class ExitCode(IntEnum):
    """What ``reconcile`` exits with.

    Attributes:
        OK: The run succeeded with no finding at or above ``--fail-on``.
        FINDINGS: The run succeeded and found something at or above ``--fail-on``.
        CONFIG_ERROR: The configuration is invalid (nothing was run).
        RUN_ERROR: A source failed or was unhealthy, or a stage failed; the
            store was left unchanged.
        LOCKED: Another run holds the store's lock (reserved for the run lock).
    """

    OK = 0
    FINDINGS = 1
    CONFIG_ERROR = 2
    RUN_ERROR = 3
    LOCKED = 4


_SEVERITIES = [s.value for s in Severity]


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _print_config_error(exc: ConfigError) -> None:
    err = _error_console()
    err.print(f"[bold red]{len(exc.problems)} configuration error(s):[/]")
    for location, message in exc.problems:
        err.print(f"  [bold]{escape(location)}[/]: {escape(message)}")


def _parse_as_of(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or datetime, e.g. 2026-11-01T06:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconcile")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Find where your systems disagree about the same customer."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="The configuration file (reconcile.yaml).")
def validate(config_path: Path) -> None:
    """Check a configuration and print every error with its field path."""
    from reconcile.config import load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        _print_config_error(exc)
        sys.exit(ExitCode.CONFIG_ERROR)
    out = _console()
    streams = sum(len(s.streams) for s in config.sources.values())
    out.print(
        f"[green]ok[/]: {escape(str(config_path))}: {len(config.sources)} source(s), {streams} stream(s), "
        f"{len(config.built_rules)} rule(s)"
    )


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the configuration file (for editors and CI)."""
    from reconcile.config import config_json_schema

    click.echo(json.dumps(config_json_schema(), indent=2))


def _finish(result, fail_on: Severity, quiet: bool) -> int:  # type: ignore[no-untyped-def]
    from reconcile.report import terminal_summary

    if not quiet:
        terminal_summary(result, console=_console())
    failing = result.at_or_above(fail_on)
    return ExitCode.FINDINGS if failing else ExitCode.OK


def _run_or_exit(config, as_of, persist, reports, quiet):  # type: ignore[no-untyped-def]
    from reconcile.pipeline import run

    err = _error_console()
    try:
        return run(config, as_of=as_of, persist=persist, write_reports=reports)
    except ConfigError as exc:
        _print_config_error(exc)
        sys.exit(ExitCode.CONFIG_ERROR)
    except RunError as exc:
        err.print(f"[bold red]run failed:[/] {escape(str(exc))}")
        result = getattr(exc, "result", None)
        if result is not None and not quiet:
            from reconcile.report import health_table

            err.print(health_table(result))
        sys.exit(ExitCode.RUN_ERROR)
    except ReconcileError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(ExitCode.RUN_ERROR)


@cli.command("run")
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="The configuration file (reconcile.yaml).")
@click.option("--as-of", help="Reference time (ISO 8601); default: the config's as_of, else now.")
@click.option("--fail-on", type=click.Choice(_SEVERITIES), default="low", show_default=True,
              help="Exit 1 when a finding of this severity or above exists.")
@click.option("--no-store", is_flag=True, help="Do not remember findings (no lifecycle).")
@click.option("--no-reports", is_flag=True, help="Do not write the configured reports.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def run_command(config_path: Path, as_of: str | None, fail_on: str, no_store: bool,
                no_reports: bool, quiet: bool) -> None:
    """Run the whole flow on a configuration: extract, match, rules, store, reports."""
    from reconcile.config import load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        _print_config_error(exc)
        sys.exit(ExitCode.CONFIG_ERROR)
    result = _run_or_exit(config, _parse_as_of(as_of), not no_store, not no_reports, quiet)
    sys.exit(_finish(result, Severity(fail_on), quiet))


@cli.command()
@click.option("--size", type=click.IntRange(min=50), default=1000, show_default=True,
              help="Number of customers in the demo company.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the generator.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("reconcile-demo"),
              show_default=True, help="Where to write the demo world, its config, store and reports.")
def demo(size: int, seed: int, directory: Path) -> None:
    """Write a demo company with every kind of discrepancy, reconcile it and score the result."""
    from reconcile.config import load_config
    from reconcile.demo import generate, score, write_config

    out = _console()
    out.print(f"[bold]Writing a demo company of {size:,} customers to {directory}/ (seed {seed})...[/]")
    world = generate(directory, size=size, seed=seed)
    config_path = write_config(directory, world)
    out.print(f"Wrote the systems and [bold]{config_path}[/] (the template for your own systems).")
    config = load_config(config_path)
    result = _run_or_exit(config, None, True, True, False)
    from reconcile.report import terminal_summary

    terminal_summary(result, console=out)
    scored = score(result.findings, Path(directory) / "truth")
    out.print(scored.table())
    for fmt, path in sorted(result.reports.items()):
        out.print(f"Report ({fmt}): {path}")
    out.print(f"Run it again: reconcile run -c {config_path}")
    sys.exit(ExitCode.OK)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="reconcile")


if __name__ == "__main__":  # pragma: no cover
    main()
