"""After customers moved from the legacy billing system into the new CRM: do the two still agree?"""

from migration_check.check import BILLING_FIELDS, CRM_FIELDS, RULES, check, main, sources

__all__ = ["BILLING_FIELDS", "CRM_FIELDS", "RULES", "check", "main", "sources"]
