"""The ``reconcile`` command line.

Exit codes (see :class:`ExitCode`) are part of the interface: cron jobs and CI
pipelines act on them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from reconcile._version import __version__
from reconcile.errors import ConfigError, PluginError, ReconcileError, RunError
from reconcile.findings import Severity
from reconcile.logs import LOG_FORMATS, configure_logging

__all__ = ["ExitCode", "main"]

log = logging.getLogger("reconcile.cli")


class ExitCode(IntEnum):
    """What ``reconcile`` exits with.

    Attributes:
        OK: The run succeeded with no unsuppressed finding at or above
            ``--fail-on`` (other commands: done).
        FINDINGS: The run succeeded and found something at or above
            ``--fail-on`` that is not suppressed.
        CONFIG_ERROR: The configuration or the command line is invalid
            (nothing was run).
        RUN_ERROR: A source failed or was unhealthy, or a stage failed; the
            store was left unchanged (but for unverified flags). Other
            commands: the store could not be read or written, or must be
            upgraded (``reconcile db upgrade``).
        LOCKED: Another run holds the store's run lock; the message names
            its run, host and pid.
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


_LOGGING: dict[str, Any] = {"verbosity": 0, "log_format": "text"}


def _configure_logging(**changes: Any) -> None:
    _LOGGING.update(changes)
    configure_logging(_LOGGING["verbosity"], _LOGGING["log_format"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconcile")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
              envvar="RECONCILE_LOG_FORMAT", help="Log lines on stderr as text or JSON lines.")
def cli(verbose: int, log_format: str) -> None:
    """Find where your systems disagree about the same customer."""
    _configure_logging(verbosity=verbose, log_format=log_format)


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


def _failing(result, fail_on: Severity) -> list:  # type: ignore[no-untyped-def,type-arg]
    """Findings at or above ``fail_on`` that count: a suppressed finding fails nothing."""
    from reconcile.store import is_suppressed

    return [f for f in result.at_or_above(fail_on) if not is_suppressed(f)]


def _finish(result, fail_on: Severity, quiet: bool) -> int:  # type: ignore[no-untyped-def]
    from reconcile.report import terminal_summary

    if not quiet:
        terminal_summary(result, console=_console())
    return ExitCode.FINDINGS if _failing(result, fail_on) else ExitCode.OK


_STAGES = ("extract", "normalise", "match", "rules", "persist", "report")


class _StageBar:
    """The run's progress on a terminal: one bar over the stages, and within a
    stage its steps (the sources being read) as they finish."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.task = bar.add_task("starting", total=len(_STAGES))
        self.stage = "starting"

    def __call__(self, stage: str) -> None:
        self.stage = stage
        done = _STAGES.index(stage) if stage in _STAGES else 0
        self.bar.update(self.task, description=stage, completed=done)

    def step(self, stage: str, done: int, total: int, what: str = "") -> None:
        """``done`` of the stage's ``total`` steps have finished; ``what`` is the next one."""
        base = _STAGES.index(stage) if stage in _STAGES else 0
        label = f"{stage} {what}".strip() if done < total else stage
        self.bar.update(self.task, description=label, completed=base + done / max(total, 1))


@contextmanager
def _progress(enabled: bool, console: Console | None = None) -> Iterator[_StageBar | None]:
    """A progress bar of the run's stages on a terminal; nothing under cron, in a pipe or with --quiet."""
    console = console or _error_console()
    if not enabled or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description:<22}"), BarColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:
        yield _StageBar(bar)


def _attempt_run(  # type: ignore[no-untyped-def]
    config, as_of, persist, reports, quiet, full_refresh=False, progress=None
) -> tuple[Any, int, str]:
    """Run once: (result or None, exit code, outcome), printing any error."""
    from reconcile.pipeline import run
    from reconcile.store import StoreLockedError

    err = _error_console()
    try:
        result = run(config, as_of=as_of, persist=persist, write_reports=reports, full_refresh=full_refresh,
                     progress=progress)
    except ConfigError as exc:
        _print_config_error(exc)
        return None, ExitCode.CONFIG_ERROR, "config_error"
    except StoreLockedError as exc:
        err.print(f"[bold red]locked:[/] {escape(str(exc))}")
        log.warning("%s", exc, extra={"holder_run_id": exc.holder.run_id, "holder_host": exc.holder.host,
                                     "holder_pid": exc.holder.pid})
        return None, ExitCode.LOCKED, "locked"
    except RunError as exc:
        err.print(f"[bold red]run failed:[/] {escape(str(exc))}")
        log.error("run failed: %s", exc)
        partial = getattr(exc, "result", None)
        if partial is not None and not quiet:
            from reconcile.report import health_table

            err.print(health_table(partial))
        return partial, ExitCode.RUN_ERROR, "failed"
    except ReconcileError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        log.error("run failed: %s", exc)
        return None, ExitCode.RUN_ERROR, "failed"
    return result, ExitCode.OK, "succeeded"


def _run_or_exit(config, as_of, persist, reports, quiet, full_refresh=False):  # type: ignore[no-untyped-def]
    result, code, _ = _attempt_run(config, as_of, persist, reports, quiet, full_refresh)
    if code != ExitCode.OK:
        sys.exit(code)
    return result


def _write_metrics_file(path: Path, config, result, code: int, outcome: str) -> None:  # type: ignore[no-untyped-def]
    """The Prometheus metrics of this attempt; a metrics problem is reported, never fatal."""
    from reconcile.metrics import MetricsContext, render_metrics, write_metrics

    context = MetricsContext(exit_code=int(code), outcome=outcome)
    if config is not None:
        try:
            from reconcile.pipeline import _store_url
            from reconcile.store import Store

            with Store(_store_url(config), lock_timeout=config.store.lock_timeout) as store:
                view = store.overview()
            context.open_findings = view.open_findings
            context.unverified = view.unverified
            context.suppressed = view.suppressed
            if view.last_success is not None:
                context.last_success = view.last_success.finished_at
        except Exception as exc:  # the store may be what failed; the metrics still say so
            log.warning("metrics: could not read the store: %s", exc)
    try:
        write_metrics(path, render_metrics(result, context))
    except OSError as exc:
        _error_console().print(f"[bold red]metrics:[/] cannot write {escape(str(path))}: {escape(str(exc))}")
        log.error("metrics: cannot write %s: %s", path, exc)


@cli.command("run")
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="The configuration file (reconcile.yaml).")
@click.option("--as-of", help="Reference time (ISO 8601); default: the config's as_of, else now.")
@click.option("--fail-on", type=click.Choice(_SEVERITIES), default="low", show_default=True,
              help="Exit 1 when an unsuppressed finding of this severity or above exists.")
@click.option("--no-store", is_flag=True, help="Do not remember findings (no lifecycle).")
@click.option("--no-reports", is_flag=True, help="Do not write the configured reports.")
@click.option("--full-refresh", is_flag=True,
              help="Read incremental streams in full, ignoring their cursors, and rebuild their snapshots.")
@click.option("--metrics-file", type=click.Path(path_type=Path),
              help="Write the run's metrics here in the Prometheus text format (atomically).")
@click.option("--log-format", type=click.Choice(LOG_FORMATS),
              help="Log lines as text or JSON (default: the one given before 'run', else text).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (no summary, no progress bar).")
def run_command(config_path: Path, as_of: str | None, fail_on: str, no_store: bool,
                no_reports: bool, full_refresh: bool, metrics_file: Path | None, log_format: str | None,
                quiet: bool) -> None:
    """Run the whole flow on a configuration: extract, match, rules, store, reports.

    Exit codes: 0 nothing at or above --fail-on, 1 findings at or above it,
    2 configuration error, 3 a source or the run failed, 4 another run holds
    the store's lock.
    """
    if log_format is not None:
        _configure_logging(log_format=log_format)
    try:
        config = _load_or_exit(config_path)
    except SystemExit as stop:
        if metrics_file is not None:
            _write_metrics_file(metrics_file, None, None, ExitCode.CONFIG_ERROR, "config_error")
        raise stop
    with _progress(not quiet) as progress:
        result, code, outcome = _attempt_run(
            config, _parse_as_of(as_of), not no_store, not no_reports, quiet, full_refresh, progress
        )
    if code == ExitCode.OK:
        code = _finish(result, Severity(fail_on), quiet)
        outcome = "findings" if code == ExitCode.FINDINGS else "succeeded"
    if metrics_file is not None:
        _write_metrics_file(metrics_file, config if not no_store else None, result, code, outcome)
    sys.exit(code)


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


# ---------------------------------------------------------------------- explain


def _stored_model(config: Any) -> tuple[Any, str]:
    """The matching model the last run kept, read without changing anything (None if none)."""
    from sqlalchemy.engine import make_url

    from reconcile.errors import StoreError
    from reconcile.pipeline import MODEL_ARTIFACT
    from reconcile.store import Store

    url = make_url(config.store.url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None, "no store: estimated now"
        path = config.resolve_path(url.database)
        if not path.is_file():  # opening it would create it
            return None, f"no store at {path}: estimated now"
        url = url.set(database=str(path))
    try:
        with Store(str(url), lock_timeout=config.store.lock_timeout) as store:
            model = store.artifact(MODEL_ARTIFACT)
    except StoreError as exc:
        log.warning("the stored matching model could not be read (%s); estimating one", exc)
        return None, f"the store could not be read ({exc}): estimated now"
    return model, "the store's model" if model is not None else "the store holds no model: estimated now"


@cli.command("explain")
@click.argument("rid_a")
@click.argument("rid_b")
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), default=Path("reconcile.yaml"),
              show_default=True, help="The configuration file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def explain_command(rid_a: str, rid_b: str, config_path: Path, as_json: bool) -> None:
    """Why two records are (or are not) the same customer, field by field.

    RID_A and RID_B are record ids, source:record_type:key (as in reports).
    A dependent record (a payment, an invoice...) stands for the identity
    record it belongs to. Reads the sources and matches them as a run
    would, reusing the store's matching model; writes nothing.
    """
    from reconcile.match._evidence import _Parents
    from reconcile.pipeline import build_tables, extract_sources, match_entities, normalise_tables

    for rid in (rid_a, rid_b):
        if len(rid.split(":")) < 3:
            raise click.BadParameter(f"{rid!r} is not a record id; give source:record_type:key", param_hint="RID")
    config = _load_or_exit(config_path)
    extracted = extract_sources(config)
    unhealthy = [r.health for r in extracted if r.health is not None and not r.health.healthy]
    if unhealthy:
        _error_console().print(
            "[bold red]run error:[/] " + escape("; ".join(h.error or f"source {h.source!r} unhealthy" for h in unhealthy))
        )
        sys.exit(ExitCode.RUN_ERROR)
    model, model_note = _stored_model(config)
    tables, matched = match_entities(normalise_tables(build_tables(extracted), config), config, model)
    if model is not None and not matched.stats.get("model", {}).get("reused"):
        model_note = f"the store's model was not reused ({matched.stats.get('model', {}).get('reason')}): estimated now"
    parents = _Parents(tables, set(matched.entity_of.index.astype(str)))
    chosen: list[str] = []
    stands_for: dict[str, str] = {}
    for rid in (rid_a, rid_b):
        found = parents.identity_rid(rid, rid.split(":")[1])
        if found is None:
            frame = tables.get(rid.split(":")[1])
            exists = frame is not None and "_rid" in frame.columns and bool((frame["_rid"] == rid).any())
            raise click.BadParameter(
                f"{rid!r}: " + ("a record whose parent identity record was not found"
                                if exists else "no such record in the configured sources"),
                param_hint="RID",
            )
        if found != rid:
            stands_for[rid] = found
        chosen.append(found)
    if chosen[0] == chosen[1]:
        raise click.BadParameter(f"{rid_a!r} and {rid_b!r} are the same identity record ({chosen[0]})",
                                 param_hint="RID")
    why = matched.explain(chosen[0], chosen[1])
    entities = {rid: str(matched.entity_of[rid]) for rid in (why.rid_l, why.rid_r)}
    path = matched.path(why.rid_l, why.rid_r)
    if as_json:
        click.echo(json.dumps({
            **why.model_dump(mode="json"), "entities": entities, "path": path,
            "stands_for": stands_for, "model": model_note,
        }, indent=2, ensure_ascii=False))
        return
    _print_explanation(_console(), why, entities, path, stands_for, model_note)


def _print_explanation(out: Console, why: Any, entities: dict[str, str], path: list[str],
                       stands_for: dict[str, str], model_note: str) -> None:
    from rich.table import Table

    for rid, identity in stands_for.items():
        out.print(f"{escape(rid)} belongs to {escape(identity)}; explaining that record.")
    if why.linked:
        verdict = (f"[green]linked[/] by the deterministic rule {escape(why.method.partition(':')[2])!r}"
                   if why.method.startswith("deterministic") else "[green]linked[/] (probabilistic)")
    elif why.same_entity:
        verdict = "[green]same customer[/] through other records: " + escape(" -> ".join(path))
    else:
        verdict = "[red]not linked[/]" + ("" if why.candidate else " (no rule or blocking pass proposed the pair)")
    out.print(f"[bold]{escape(why.rid_l)}[/]  <->  [bold]{escape(why.rid_r)}[/]: {verdict}")
    out.print(f"match probability {why.probability:.6f} (threshold {why.threshold:g}); "
              f"score {why.score:+.2f} bits = prior {why.prior_weight:+.2f} + evidence {why.score - why.prior_weight:+.2f}")
    if why.deterministic_rule is not None:
        note = f", vetoed by {', '.join(why.vetoed_by)}" if why.vetoed_by else ""
        out.print(f"deterministic rule {escape(why.deterministic_rule)!r} applies{escape(note)}")
    if why.veto:
        out.print(f"no probabilistic link: {escape(', '.join(why.veto))} clearly disagree (veto)")
    for number, (rid, entity) in enumerate(entities.items(), start=1):
        out.print(f"  record {number}: {escape(rid)}, in entity {escape(entity)}")
    table = Table(show_lines=False)
    table.add_column("Field", no_wrap=True)
    table.add_column("Record 1", overflow="fold")
    table.add_column("Record 2", overflow="fold")
    table.add_column("Level", no_wrap=True)
    table.add_column("Weight (bits)", justify="right")
    table.add_column("m", justify="right")
    table.add_column("u", justify="right")
    for f in why.fields:
        table.add_row(
            escape(f.comparison), escape("—" if f.value_l is None else f.value_l),
            escape("—" if f.value_r is None else f.value_r), escape(f.level), f"{f.weight:+.2f}",
            "" if f.m is None else f"{f.m:.4g}", "" if f.u is None else f"{f.u:.3g}",
        )
    out.print(table)
    out.print(f"[dim]model: {escape(model_note)}[/]")


# ---------------------------------------------------------------------- the store's commands


def _store_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option("--url", help="The store's SQLAlchemy URL, instead of a configuration's store.")(function)
    return click.option(
        "-c", "--config", "config_path", type=click.Path(path_type=Path),
        help="The configuration whose store: to use (default: ./reconcile.yaml).",
    )(function)


def _store_target(config_path: Path | None, url: str | None) -> tuple[str, Any]:
    """The store's URL and the configuration it came from (None with --url)."""
    if config_path is not None and url:
        raise click.UsageError("give either -c/--config or --url, not both")
    if url:
        return url, None
    path = config_path or Path("reconcile.yaml")
    if config_path is None and not path.exists():
        raise click.UsageError("which store? give -c reconcile.yaml or --url sqlite:///reconcile.db")
    config = _load_or_exit(path)
    from reconcile.pipeline import _store_url

    return _store_url(config), config


def _store_failed(exc: Exception) -> None:
    _error_console().print(f"[bold red]store error:[/] {escape(str(exc))}")
    sys.exit(ExitCode.RUN_ERROR)


@contextmanager
def _open_store(config_path: Path | None, url: str | None) -> Iterator[tuple[Any, Any]]:
    from reconcile.errors import StoreError
    from reconcile.store import DEFAULT_LOCK_TIMEOUT, Store

    target, config = _store_target(config_path, url)
    try:
        store = Store(target, lock_timeout=config.store.lock_timeout if config is not None else DEFAULT_LOCK_TIMEOUT)
    except StoreError as exc:
        _store_failed(exc)
    try:
        yield store, config
    except StoreError as exc:
        _store_failed(exc)
    finally:
        store.close()


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@cli.command("report")
@_store_options
@click.option("--run", "run_id", type=int, help="The run to report (default: the latest finished run).")
@click.option("--format", "formats",
              help="Comma-separated formats: json, csv, html, junit (default: the configuration's, else json,html).")
@click.option("--dir", "directory", type=click.Path(path_type=Path),
              help="Where to write (default: the configuration's reports.dir, else ./reports).")
def report_command(config_path: Path | None, url: str | None, run_id: int | None, formats: str | None,
                   directory: Path | None) -> None:
    """Render a past run's reports again from the store, as that run saw its findings."""
    from reconcile.report import FINDINGS_PER_GROUP, FORMATS, write_reports

    wanted = [f.strip() for f in formats.split(",") if f.strip()] if formats else None
    unknown = [f for f in wanted or [] if f not in FORMATS]
    if unknown:
        raise click.BadParameter(
            f"unknown format {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(FORMATS))}",
            param_hint="--format",
        )
    with _open_store(config_path, url) as (store, config):
        if run_id is None:
            finished = [r for r in store.runs() if r.status != "running"]
            if not finished:
                _store_failed(ValueError(f"the store {store.url} has no finished run to report"))
            run_id = finished[-1].id
        result = store.run_result(run_id)
        if wanted is None:
            wanted = list(config.reports.formats) if config is not None else ["json", "html"]
        if directory is None:
            directory = config.resolve_path(config.reports.dir) if config is not None else Path("reports")
        stories = store.stories_for(result) if "html" in wanted else []
        written = write_reports(
            result, directory, formats=wanted, stories=stories,
            junit_min_severity=config.reports.junit_min_severity if config is not None else Severity.low,
            html_findings_per_group=(
                config.reports.html_findings_per_group if config is not None else FINDINGS_PER_GROUP
            ),
        )
    out = _console()
    out.print(f"Run {run_id} ({escape(result.status)}, as of {_when(result.as_of)}): "
              f"{len(result.findings)} finding(s), {len(result.resolved)} resolved")
    for fmt, path in written.items():
        out.print(f"Report ({fmt}): {escape(str(path))}")


@cli.command("entity")
@click.argument("entity_id")
@_store_options
@click.option("--run", "run_id", type=int, help="Tell the story as it stood after this run.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def entity_command(entity_id: str, config_path: Path | None, url: str | None, run_id: int | None,
                   as_json: bool) -> None:
    """One customer's whole story: every finding on one timeline, and its records in each system.

    ENTITY_ID is an entity id from a report (such as E1a2b3c4d5e6f) or the
    id of one of its records, source:record_type:key.
    """
    with _open_store(config_path, url) as (store, _):
        story = store.entity_story(entity_id, up_to_run=run_id)
    if as_json:
        click.echo(story.model_dump_json(indent=2))
        return
    out = _console()
    if not story:
        _error_console().print(
            f"The store has no finding about {escape(entity_id)!s}. Give an entity id from a report "
            f"(such as E1a2b3c4d5e6f) or a record id source:record_type:key."
        )
        return
    _print_story(out, story)


def _print_story(out: Console, story: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    systems = sorted(story.systems)
    out.print(Text(f"Customer {story.entity_id}: {len(story.findings)} finding(s) across "
                   f"{', '.join(systems) or 'no system'}", style="bold"))
    numbers = {f.fingerprint: i for i, f in enumerate(story.findings, start=1)}
    table = Table(title="Findings", title_justify="left")
    for name in ("#", "Severity", "Status", "Owner", "Kind", "Story"):
        table.add_column(name, overflow="fold")
    table.add_column("Fingerprint", no_wrap=True)  # copied into 'reconcile suppress': never broken
    for finding in story.findings:
        status = finding.status.value if finding.status else "untracked"
        if finding.suppression is not None:
            status += f" (suppressed by {finding.suppression.author}: {finding.suppression.reason})"
        if finding.unverified is not None:
            status += f" (unverified: {finding.unverified.reason})"
        table.add_row(str(numbers[finding.fingerprint]), finding.severity.value, Text(status),
                      Text(finding.owner), Text(finding.kind), Text(finding.story), finding.fingerprint)
    out.print(table)
    timeline = Table(title="Timeline", title_justify="left")
    for name in ("When", "Run", "Finding", "Event", "Why"):
        timeline.add_column(name, overflow="fold")
    for event in story.timeline:
        timeline.add_row(_when(event.at), "—" if event.run_id is None else str(event.run_id),
                         f"#{numbers.get(event.fingerprint, '?')} {event.kind}", event.event, Text(event.reason))
    out.print(timeline)
    records = Table(title="Records in each system", title_justify="left")
    for name in ("System", "Record", "Key", "Role", "Fields", "Findings"):
        records.add_column(name, overflow="fold")
    for record in story.records:
        fields = record.snapshot if record.snapshot is not None else record.fields
        shown = ", ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, ""))
        records.add_row(Text(record.source), Text(record.record_type), Text(record.key), Text(", ".join(record.roles)),
                        Text(shown), " ".join(f"#{numbers[fp]}" for fp in record.findings if fp in numbers))
    out.print(records)


def _parse_until(value: str | None) -> dt.datetime | dt.date | None:
    if value is None:
        return None
    text = value.strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        parsed = _parse_as_of(text)
    except click.BadParameter:
        raise click.BadParameter(
            f"{value!r} is not an ISO date or datetime, e.g. 2026-12-31 or 2026-12-31T18:00:00Z",
            param_hint="--until",
        ) from None
    return parsed


def _default_author() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without one): make the user say who
        return ""


@cli.command("suppress")
@click.argument("fingerprint")
@click.option("--reason", required=True, help="Why the finding needs no action (shown next to it).")
@click.option("--until", "until", help="When the suppression lapses: an ISO date (through that day, UTC) or "
                                        "datetime. Default: until lifted with 'reconcile unsuppress'.")
@click.option("--author", help="Who decides (default: your login name).")
@_store_options
def suppress_command(fingerprint: str, reason: str, until: str | None, author: str | None,
                     config_path: Path | None, url: str | None) -> None:
    """Suppress a finding: it keeps its status but is flagged, not notified, and fails no run."""
    end = _parse_until(until)
    who = author or _default_author()
    if not who:
        raise click.UsageError("no login name to record as the author: give --author")
    with _open_store(config_path, url) as (store, _):
        sup = store.suppress(fingerprint, reason, who, until=end)
    lapse = f" until {_when(sup.until)}" if sup.until else " until lifted"
    _console().print(f"Suppressed {escape(fingerprint)}{lapse} (by {escape(sup.author)}): {escape(sup.reason)}")


@cli.command("unsuppress")
@click.argument("fingerprint")
@_store_options
def unsuppress_command(fingerprint: str, config_path: Path | None, url: str | None) -> None:
    """Lift a finding's suppression."""
    with _open_store(config_path, url) as (store, _):
        lifted = store.unsuppress(fingerprint)
    if lifted:
        _console().print(f"Lifted the suppression of {escape(fingerprint)}.")
    else:
        _error_console().print(f"{escape(fingerprint)} was not suppressed.")


@cli.command("suppressions")
@_store_options
@click.option("--active", "active_only", is_flag=True, help="Only suppressions in force (not lapsed).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def suppressions_command(config_path: Path | None, url: str | None, active_only: bool, as_json: bool) -> None:
    """List suppressions, newest first, with their findings."""
    with _open_store(config_path, url) as (store, _):
        listed = store.suppressions(include_lapsed=not active_only)
        findings = {sup.fingerprint: store.finding(sup.fingerprint) for sup in listed}
    now = dt.datetime.now(dt.UTC)
    if as_json:
        rows = []
        for sup in listed:
            finding = findings[sup.fingerprint]
            rows.append({
                **sup.model_dump(mode="json"), "active": sup.active_at(now),
                "status": finding.status.value if finding and finding.status else None,
                "severity": finding.severity.value if finding else None,
                "owner": finding.owner if finding else None,
                "story": finding.story if finding else None,
            })
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"Suppressions ({len(listed)})", title_justify="left")
    table.add_column("Fingerprint", no_wrap=True)  # copied into commands: never broken
    for name in ("In force", "Until", "Author", "Reason", "Finding"):
        table.add_column(name, overflow="fold")
    for sup in listed:
        finding = findings[sup.fingerprint]
        what = f"[{finding.severity.value}] {finding.status.value if finding.status else ''}: {finding.story}" \
            if finding else ""
        table.add_row(sup.fingerprint, "yes" if sup.active_at(now) else "lapsed", _when(sup.until),
                      Text(sup.author), Text(sup.reason), Text(what))
    _console().print(table)


@cli.group("db")
def db() -> None:
    """The store's schema and run lock."""


@db.command("upgrade")
@_store_options
def db_upgrade(config_path: Path | None, url: str | None) -> None:
    """Bring the store's tables to this release's schema, keeping the data (back it up first)."""
    from reconcile.errors import StoreError
    from reconcile.store import upgrade_schema

    target, _ = _store_target(config_path, url)
    try:
        before, after = upgrade_schema(target)
    except StoreError as exc:
        _store_failed(exc)
    shown = _shown_url(target)
    if before == after:
        _console().print(f"The store {escape(shown)} is up to date (schema revision {after}).")
    elif before is None:
        _console().print(f"Created the store's tables in {escape(shown)} (schema revision {after}).")
    else:
        _console().print(f"Upgraded the store {escape(shown)} from schema revision {before} to {after}.")


def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(the store)"


@db.command("status")
@_store_options
def db_status(config_path: Path | None, url: str | None) -> None:
    """The store's schema revision, unresolved findings, latest runs and lock holder."""
    with _open_store(config_path, url) as (store, _):
        view = store.overview()
        shown = store.url
    out = _console()
    out.print(f"Store {escape(shown)}: schema revision {view.revision}")
    out.print(f"Unresolved findings: {view.open_findings} ({view.suppressed} suppressed, "
              f"{view.unverified} unverified)")
    if view.last_run is not None:
        out.print(f"Last run: {view.last_run.id} {view.last_run.status.value}, as of {_when(view.last_run.as_of)}")
    if view.last_success is not None:
        out.print(f"Last good run: {view.last_success.id}, finished {_when(view.last_success.finished_at)}")
    out.print("Run lock: " + (escape(view.lock.describe()) if view.lock is not None else "free"))


@db.command("unlock")
@_store_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_unlock(config_path: Path | None, url: str | None, yes: bool) -> None:
    """Release the run lock of a run that is known to be dead (it is marked failed)."""
    with _open_store(config_path, url) as (store, _):
        holder = store.lock_holder()
        if holder is None:
            _console().print("The run lock is free.")
            return
        if not yes:
            click.confirm(f"Release the lock held by {holder.describe()}? Only do this when that run is dead",
                          abort=True)
        store.release_lock()
    _console().print(f"Released the run lock held by run {holder.run_id}; it is marked failed.")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="reconcile")


if __name__ == "__main__":  # pragma: no cover
    main()
