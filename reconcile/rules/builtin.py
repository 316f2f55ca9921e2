"""The nine built-in rule kinds, one per customer story.

They are registered in the ``reconcile.rules`` entry-point group (see
``pyproject.toml``) like any third-party rule. Each kind documents its
parameters and the facts its story template may use (``Kind.facts``).

Records that no entity holds (``_entity`` is None) are kept, not dropped: a
dependent record is grouped with its parent (a subscription whose account
matched nothing sits with that account, under the account's rid), and an
identity record stands alone under its own rid. Such a group never shares
records with a real customer, so rules that need two systems to agree
(a line for a subscription, a subscription for a line) report what they cannot
find, and rules that need two systems to be linked (a recall and a dealer
vehicle, a survey and a finding) report nothing. Findings carry
``entity_id=None`` then.
"""

from __future__ import annotations

from reconcile.rules._billing import FailedAutopayRule, PaymentMisappliedRule
from reconcile.rules._crm import NameMismatchRule, UnresolvedLowSurveyRule
from reconcile.rules._service import (
    BilledNotProvisionedRule,
    DuplicateActiveLineRule,
    MonitoringGapRule,
    ProvisionedNotBilledRule,
)
from reconcile.rules._vehicles import RecallMissingLocallyRule

__all__ = [
    "BUILTIN_RULES",
    "BilledNotProvisionedRule",
    "DuplicateActiveLineRule",
    "FailedAutopayRule",
    "MonitoringGapRule",
    "NameMismatchRule",
    "PaymentMisappliedRule",
    "ProvisionedNotBilledRule",
    "RecallMissingLocallyRule",
    "UnresolvedLowSurveyRule",
]

#: The built-in kinds, in the order of the stories.
BUILTIN_RULES = (
    FailedAutopayRule,
    RecallMissingLocallyRule,
    UnresolvedLowSurveyRule,
    NameMismatchRule,
    DuplicateActiveLineRule,
    PaymentMisappliedRule,
    BilledNotProvisionedRule,
    ProvisionedNotBilledRule,
    MonitoringGapRule,
)
