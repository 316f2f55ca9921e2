"""What the store knows about a finding beyond what a rule said: suppression, verification."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from reconcile.findings import Finding

__all__ = ["Suppression", "TrackedFinding", "Unverified", "is_suppressed"]


class Suppression(BaseModel):
    """A person's decision that a finding needs no action, for a while or for good.

    A suppressed finding keeps its lifecycle (it is still new, open, resolved
    or reopened) but is flagged in results and reports, is not notified, and
    does not count for ``reconcile run --fail-on``.

    Attributes:
        fingerprint: The finding.
        reason: Why, in words (shown next to the finding).
        author: Who decided.
        created_at: When (UTC, wall clock).
        until: When it lapses (UTC); None for good. A run applies the
            suppression while its as-of time is before ``until``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fingerprint: str
    reason: str
    author: str
    created_at: dt.datetime
    until: dt.datetime | None = None

    def active_at(self, when: dt.datetime) -> bool:
        """Whether the suppression applies at ``when`` (it has not lapsed)."""
        return self.until is None or when < self.until


class Unverified(BaseModel):
    """An unresolved finding a failed run could not check: a source it comes from was unhealthy.

    Its status is unchanged and it is never resolved for lack of evidence;
    the next good run (every source healthy) clears the flag.

    Attributes:
        run_id: The latest run that could not verify it.
        reason: Which source was unhealthy, and why.
        since: The as-of time of the first run in a row that could not verify it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: int
    reason: str
    since: dt.datetime


class TrackedFinding(Finding):
    """A finding as the store returns it: with its suppression and verification flags.

    It is a :class:`~reconcile.findings.Finding` in every other way.

    Attributes:
        suppression: The suppression in force (None if not suppressed).
        unverified: Why the finding could not be verified lately (None if it could).
    """

    suppression: Suppression | None = None
    unverified: Unverified | None = None

    @model_validator(mode="before")
    @classmethod
    def _computed_fingerprint(cls, data: Any) -> Any:
        # JSON of a finding carries its (computed) fingerprint; reading it back
        # recomputes it, so the copy in the input is checked, then dropped.
        if isinstance(data, dict) and "fingerprint" in data:
            data = dict(data)
            given = data.pop("fingerprint")
            probe = Finding.model_validate({k: v for k, v in data.items() if k in Finding.model_fields})
            if given != probe.fingerprint:
                raise ValueError(f"fingerprint {given!r} does not match the finding (it is {probe.fingerprint!r})")
        return data

    @property
    def suppressed(self) -> bool:
        """True when a suppression is in force."""
        return self.suppression is not None


def is_suppressed(finding: Any) -> bool:
    """Whether a finding (tracked or not) carries a suppression in force."""
    return getattr(finding, "suppression", None) is not None
