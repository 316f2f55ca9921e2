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
from reconcile.errors import ConfigError, PluginError, ReconcileError, RunError
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


def _load_or_exit(config_path: Path):  # type: ignore[no-untyped-def]
    """The validated configuration, or exit 2 with every error (a broken plugin included)."""
    from reconcile.config import load_config

    try:
        return load_config(config_path)
    except ConfigError as exc:
        _print_config_error(exc)
    except PluginError as exc:
        _error_console().print(f"[bold red]plugin error:[/] {escape(str(exc))}")
    sys.exit(ExitCode.CONFIG_ERROR)


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
    config = _load_or_exit(config_path)
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


def _plugin_problem(group: str, kind: str, obj: object) -> str | None:
    """Why a loaded plugin object is not a valid plugin of its group, or None."""
    from reconcile.registry import ADAPTER_GROUP

    if group == ADAPTER_GROUP:
        from reconcile.extract.base import Adapter

        if not (isinstance(obj, type) and issubclass(obj, Adapter)):
            return f"{obj!r} is not a subclass of reconcile.Adapter"
        declared = getattr(obj, "kind", None)
    else:
        from reconcile.rules.base import Rule

        if not (isinstance(obj, type) and issubclass(obj, Rule)):
            return f"{obj!r} is not a subclass of reconcile.Rule"
        field = obj.model_fields.get("kind")
        declared = None if field is None else field.default
    if declared != kind:
        return f"its kind is {declared!r}; the entry point's name must be the kind"
    return None


def _plugin_rows(group: str) -> list[dict[str, str | None]]:
    """One row per entry point of ``group``: kind, distribution, object path, error."""
    from reconcile import registry

    rows: list[dict[str, str | None]] = []
    origin: dict[str, str] = {}
    # Looked up on the module at call time, so tests can stand in other entry points.
    for ep in registry.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        row: dict[str, str | None] = {
            "kind": ep.name,
            "distribution": dist.name if dist is not None else None,
            "version": dist.version if dist is not None else None,
            "object": ep.value,
            "error": None,
        }
        if ep.name in origin:
            if origin[ep.name] == ep.value:
                continue  # the same registration seen twice (an editable install and its checkout)
            row["error"] = f"kind {ep.name!r} is registered twice: {origin[ep.name]} and {ep.value}"
        else:
            origin[ep.name] = ep.value
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plugin must name itself, never vanish
                row["error"] = f"failed to load: {type(exc).__name__}: {exc}"
            else:
                row["error"] = _plugin_problem(group, ep.name, obj)
        rows.append(row)
    return sorted(rows, key=lambda r: (str(r["kind"]), str(r["object"])))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def plugins(as_json: bool) -> None:
    """List adapter and rule kinds with the distribution that provides each.

    A plugin that fails to load is listed with its error and the command
    exits with 2 (CONFIG_ERROR): no configuration can be loaded until it is
    fixed or uninstalled.
    """
    from reconcile.registry import ADAPTER_GROUP, RULE_GROUP

    groups = {"adapters": ADAPTER_GROUP, "rules": RULE_GROUP}
    listed = {title: _plugin_rows(group) for title, group in groups.items()}
    broken = [(title, row) for title, rows in listed.items() for row in rows if row["error"]]
    if as_json:
        click.echo(json.dumps(listed, indent=2))
    else:
        for title, group in groups.items():
            rows = listed[title]
            click.echo(f"{title.capitalize()[:-1]} kinds (entry-point group {group}):")
            if not rows:
                click.echo("  (none)")
            width = max((len(str(r["kind"])) for r in rows), default=0)
            dist_width = max((len(str(r["distribution"] or "?")) for r in rows), default=0)
            for row in rows:
                line = (
                    f"  {str(row['kind']):<{width}}  {str(row['distribution'] or '?'):<{dist_width}}  "
                    f"{row['object']}"
                )
                if row["error"]:
                    line += f"  ERROR: {row['error']}"
                click.echo(line)
    for title, row in broken:
        click.echo(
            f"error: {title[:-1]} plugin {row['kind']!r} ({row['object']}, from "
            f"{row['distribution'] or 'an unknown distribution'}): {row['error']}",
            err=True,
        )
    if broken:
        sys.exit(ExitCode.CONFIG_ERROR)


def _finish(result, fail_on: Severity, quiet: bool) -> int:  # type: ignore[no-untyped-def]
    from reconcile.report import terminal_summary

    if not quiet:
        terminal_summary(result, console=_console())
    failing = result.at_or_above(fail_on)
    return ExitCode.FINDINGS if failing else ExitCode.OK


def _run_or_exit(config, as_of, persist, reports, quiet, full_refresh=False):  # type: ignore[no-untyped-def]
    from reconcile.pipeline import run

    err = _error_console()
    try:
        return run(config, as_of=as_of, persist=persist, write_reports=reports, full_refresh=full_refresh)
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
@click.option("--full-refresh", is_flag=True,
              help="Read incremental streams in full, ignoring their cursors, and rebuild their snapshots.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def run_command(config_path: Path, as_of: str | None, fail_on: str, no_store: bool,
                no_reports: bool, full_refresh: bool, quiet: bool) -> None:
    """Run the whole flow on a configuration: extract, match, rules, store, reports."""
    config = _load_or_exit(config_path)
    result = _run_or_exit(config, _parse_as_of(as_of), not no_store, not no_reports, quiet, full_refresh)
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
