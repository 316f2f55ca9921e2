"""A ready-made contract test for rule kinds: subclass it, give a rule and a small world, run pytest.

::

    from reconcile.testing.rules import RuleContract, make_context

    class TestChurnRisk(RuleContract):
        expected = ["AC-1"]          # subjects (keys or rids) that must be findings
        not_expected = ["AC-2"]      # near misses that must not be

        def make_rule(self):
            return ChurnRiskRule(id="churn", owner="retention")

        def make_context(self):
            return make_context({"account": [...], "case": [...]})

Every ``test_*`` method below then runs against your rule. The contract is
what the rest of reconcile relies on: the configuration model forbids
unknown keys (a typo in YAML is an error naming the key) and declares its
``kind`` as a ``Literal`` (the discriminator of the rule union); ``evaluate``
is pure (the same findings twice, the tables and the rule untouched);
findings carry the rule's id, kind, severity and owner, a story and a subject
that is a record of the context; findings and fingerprints do not depend on
the order of rows; and the story is rendered from the documented ``facts``.

The class has no pytest import and no fixtures: pytest collects a subclass
whose name starts with ``Test`` like any test class, and each check can also
be called directly.
"""

from __future__ import annotations

import copy
import string
import typing
from collections.abc import Sequence
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel, ValidationError

from reconcile.findings import Finding, RecordRef
from reconcile.rules.base import Rule, RuleContext
from reconcile.rules.engine import evaluate_rules
from reconcile.rules.example import EXAMPLE_AS_OF, make_context, make_tables

__all__ = ["RuleContract", "make_context", "make_tables"]

#: The as-of time :func:`make_context` uses unless told otherwise.
AS_OF = EXAMPLE_AS_OF


def _dump(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json") for f in findings]


def _by_fingerprint(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return sorted(_dump(findings), key=lambda f: f["fingerprint"])


def _models(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model inside an annotation such as ``list[Filter] | None``."""
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in typing.get_args(annotation):
        found.extend(_models(arg))
    return found


class RuleContract:
    """Contract tests every rule kind must pass; subclass as ``Test<YourRule>``.

    Implement :meth:`make_rule` and :meth:`make_context`, and list the
    subjects of the findings the context must produce in :attr:`expected`
    and the near misses it must not report in :attr:`not_expected`.

    Attributes:
        expected: Subjects (record keys, or rids ``source:type:key``) of
            exactly the findings the rule must report on the context.
        not_expected: Subjects of records in the context that look like
            findings but are not (the near misses of the rule's story).
        shuffle_seeds: Seeds of the row shuffles the fingerprints must survive.
    """

    expected: ClassVar[Sequence[str]] = ()
    not_expected: ClassVar[Sequence[str]] = ()
    shuffle_seeds: ClassVar[Sequence[int]] = (1, 2, 3)

    # --- what the subclass provides ------------------------------------------------------

    def make_rule(self) -> Rule:
        """The rule under test, configured as a user would."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_rule() -> Rule")

    def make_context(self) -> RuleContext:
        """A small world with findings and near misses (see :func:`make_context`)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement make_context() -> RuleContext, e.g. "
            "return make_context({'account': [...], ...})"
        )

    # --- helpers -------------------------------------------------------------------------

    def findings(self, rule: Rule | None = None, ctx: RuleContext | None = None) -> list[Finding]:
        """The rule's findings on the context, through the engine (which checks them too)."""
        rule = rule if rule is not None else self.make_rule()
        ctx = ctx if ctx is not None else self.make_context()
        return evaluate_rules([rule], ctx)

    @staticmethod
    def _names(ref: RecordRef) -> set[str]:
        return {ref.key, ref.rid}

    # --- the contract --------------------------------------------------------------------

    def test_config_model_forbids_unknown_keys(self) -> None:
        rule = self.make_rule()
        cls = type(rule)
        data = rule.model_dump()
        try:
            again = cls.model_validate(data)
        except ValidationError as exc:
            raise AssertionError(
                f"{cls.__name__}.model_dump() does not validate again, so a configuration cannot "
                f"round-trip:\n{exc}"
            ) from None
        assert again == rule, f"{cls.__name__} changes when dumped and validated again"
        try:
            cls.model_validate({**data, "no_such_key": 1})
        except ValidationError as exc:
            kinds = {(e["type"], e["loc"][-1] if e["loc"] else None) for e in exc.errors()}
            assert ("extra_forbidden", "no_such_key") in kinds, exc.errors()
        else:
            raise AssertionError(
                f"{cls.__name__} accepted an unknown key 'no_such_key'; a typo in a configuration "
                'must be an error: set model_config = ConfigDict(extra="forbid") (or subclass '
                "reconcile.Rule and do not override model_config)"
            )
        for name, info in cls.model_fields.items():
            for model in _models(info.annotation):
                assert model.model_config.get("extra") == "forbid", (
                    f"{cls.__name__}.{name} is a {model.__name__}, which accepts unknown keys; "
                    'set model_config = ConfigDict(extra="forbid") on it'
                )

    def test_kind_is_a_literal_discriminator(self) -> None:
        from reconcile.rules.packs import validate_rule
        from reconcile.rules.registry import rule_classes

        rule = self.make_rule()
        cls = type(rule)
        info = cls.model_fields["kind"]
        kind = info.default
        assert typing.get_origin(info.annotation) is typing.Literal and typing.get_args(info.annotation) == (
            kind,
        ), (
            f"{cls.__name__}.kind must be declared as kind: Literal[{kind!r}] = {kind!r} "
            f"(got {info.annotation!r}): the kind is the discriminator of the rule configuration union"
        )
        assert isinstance(kind, str) and kind, f'{cls.__name__}.kind needs a default: kind: Literal["x"] = "x"'
        assert rule.kind == kind, f"the rule's kind {rule.kind!r} is not the class's {kind!r}"
        registered = rule_classes().get(kind)
        if registered is not None:
            assert registered is cls, (
                f"kind {kind!r} is registered to {registered.__module__}:{registered.__qualname__}, "
                f"not {cls.__module__}:{cls.__qualname__}; give this class a kind of its own"
            )
            assert isinstance(validate_rule(rule.model_dump()), cls)
        if "<locals>" not in cls.__qualname__:
            by_path = validate_rule({**rule.model_dump(), "kind": f"{cls.__module__}:{cls.__qualname__}"})
            assert isinstance(by_path, cls) and by_path.kind == kind, by_path

    def test_evaluate_is_pure(self) -> None:
        rule = self.make_rule()
        ctx = self.make_context()
        tables = {name: frame.copy(deep=True) for name, frame in ctx.tables.items()}
        config = copy.deepcopy(rule.model_dump())
        prior = [f.model_copy(deep=True) for f in ctx.findings]
        first = _dump(list(rule.evaluate(ctx)))
        second = _dump(list(rule.evaluate(ctx)))
        assert first == second, (
            f"{type(rule).__name__}.evaluate gave different findings on the same context twice; "
            "it must not keep state or read the clock (use ctx.as_of)"
        )
        assert set(ctx.tables) == set(tables), (
            f"evaluate added or removed tables: {sorted(set(ctx.tables) ^ set(tables))}"
        )
        for name, before in tables.items():
            try:
                pd.testing.assert_frame_equal(ctx.tables[name], before, check_exact=True)
            except AssertionError as exc:
                raise AssertionError(
                    f"{type(rule).__name__}.evaluate changed the {name!r} table of the context; "
                    f"work on copies (frame.assign(...), frame[mask]), never in place:\n{exc}"
                ) from None
        assert rule.model_dump() == config, f"{type(rule).__name__}.evaluate changed the rule's own settings"
        assert [f.model_dump() for f in ctx.findings] == [f.model_dump() for f in prior], (
            "evaluate changed ctx.findings"
        )

    def test_findings_carry_the_rule_and_a_subject_of_the_context(self) -> None:
        rule = self.make_rule()
        ctx = self.make_context()
        found = self.findings(rule, ctx)
        assert found, (
            "the context gives no finding, so this contract proves nothing; make_context() must "
            "hold at least one discrepancy (listed in expected)"
        )
        for finding in found:
            where = f"finding on {finding.subject.rid}"
            assert finding.rule_id == rule.id, f"{where}: rule_id {finding.rule_id!r}, not {rule.id!r}"
            assert finding.kind == rule.kind, f"{where}: kind {finding.kind!r}, not {rule.kind!r}"
            assert finding.severity == rule.severity, f"{where}: severity is not the rule's"
            assert finding.owner == rule.owner, f"{where}: owner {finding.owner!r}, not {rule.owner!r}"
            assert isinstance(finding.story, str) and finding.story.strip(), f"{where}: no story"
            table = ctx.table(finding.subject.record_type)
            holders = table[table["_rid"] == finding.subject.rid]
            assert len(holders) == 1, (
                f"{where}: the subject must be one record of the context's "
                f"{finding.subject.record_type!r} table (source, record_type, key as in _source, _key)"
            )
            assert finding.subject in finding.records, f"{where}: list the subject among the records"
            if finding.entity_id is not None:
                entity = holders["_entity"].iloc[0]
                assert entity == finding.entity_id, (
                    f"{where}: entity_id {finding.entity_id!r}, but the subject belongs to {entity!r}"
                )

    def test_expected_findings_and_no_near_miss(self) -> None:
        assert self.expected, f"{type(self).__name__}.expected must list the subjects the rule must report"
        ctx = self.make_context()
        found = self.findings(ctx=ctx)
        reported = [self._names(f.subject) for f in found]
        missing = [s for s in self.expected if not any(s in names for names in reported)]
        extra = [f.subject.rid for f, names in zip(found, reported, strict=True)
                 if not names & set(self.expected)]
        assert not missing and not extra, (
            f"expected findings on {list(self.expected)}; not reported: {missing}; "
            f"reported but not expected: {extra}"
        )
        keys = {str(v) for frame in ctx.tables.values() for column in ("_key", "_rid") for v in frame[column]}
        absent = [s for s in self.not_expected if s not in keys]
        assert not absent, f"not_expected names records the context does not hold: {absent}"
        hits = [s for s in self.not_expected if any(s in names for names in reported)]
        assert not hits, f"near misses reported as findings: {hits}"

    def test_findings_and_fingerprints_survive_row_shuffles(self) -> None:
        rule = self.make_rule()
        ctx = self.make_context()
        expected = _by_fingerprint(self.findings(rule, ctx))
        for seed in self.shuffle_seeds:
            for reset in (False, True):
                tables = {}
                for name, frame in ctx.tables.items():
                    shuffled = frame.sample(frac=1, random_state=seed)
                    tables[name] = shuffled.reset_index(drop=True) if reset else shuffled
                got = _by_fingerprint(self.findings(rule, RuleContext(
                    as_of=ctx.as_of, tables=tables, findings=ctx.findings, open_findings=ctx.open_findings)))
                prints = ([f["fingerprint"] for f in expected], [f["fingerprint"] for f in got])
                assert prints[0] == prints[1], (
                    f"fingerprints change when the rows are shuffled (seed {seed}): {prints[0]} -> {prints[1]}; "
                    "pick subjects and detail keys by sorting (by key), not by row position"
                )
                assert got == expected, (
                    f"findings change when the rows are shuffled (seed {seed}); sort the records a "
                    "finding shows and the row a story describes, e.g. by time then key"
                )

    def test_story_renders_the_documented_facts(self) -> None:
        rule = self.make_rule()
        cls = type(rule)
        facts = cls.facts
        assert facts, (
            f"{cls.__name__} must document its facts: facts: ClassVar[dict[str, str]] = "
            "{'account': 'the account id', ...} (the names its story and a description may use)"
        )
        known = {"rule_id", "subject", *facts}
        used = {name for _, name, _, _ in string.Formatter().parse(cls.story) if name is not None}
        assert used <= known, (
            f"{cls.__name__}.story uses {sorted(used - known)}, which facts does not document"
        )
        found = self.findings(rule)
        for finding in found:
            assert set(finding.detail) == set(facts), (
                f"finding on {finding.subject.rid}: facts given {sorted(finding.detail)}, documented "
                f"{sorted(facts)}; missing {sorted(set(facts) - set(finding.detail))}, undocumented "
                f"{sorted(set(finding.detail) - set(facts))}"
            )
        every = " | ".join(f"{{{name}}}" for name in sorted(known))
        retold = self.findings(rule.model_copy(update={"description": every}))
        assert len(retold) == len(found), "a description changed which findings the rule reports"
        for finding in retold:
            for name, value in finding.detail.items():
                if isinstance(value, str):
                    assert value in finding.story, (
                        f"fact {name!r} = {value!r} is not in the story rendered from a description "
                        f"using every fact: {finding.story!r}"
                    )
