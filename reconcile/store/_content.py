"""A finding's content (what its rule said) as JSON text, encoded once, and the hash that names it.

A finding's content is kept once per distinct version in ``finding_versions``;
the ``findings`` row and the runs that saw it point to it by the hash of its
JSON text. The hash tells a changed finding from an unchanged one without
reading the stored content back: a run encodes each finding once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconcile.findings import Finding, RecordRef
from reconcile.store._json import encode_json_bytes

__all__ = ["CONTENT_FIELDS", "Content", "content_from_dict", "content_of", "ref_dict"]

#: The fields of a finding that make its content, in the order of the JSON text.
CONTENT_FIELDS = (
    "rule_id", "kind", "severity", "owner", "entity_id", "subject", "records",
    "story", "confidence", "detail", "detail_key",
)



@dataclass(frozen=True, slots=True)
class Content:
    """A finding's content as JSON text (UTF-8), and the hash of that text that names it."""

    raw: bytes
    hash: str

    @property
    def text(self) -> str:
        """The JSON text (decoded only when it is written: most contents a night encodes are stored already)."""
        return self.raw.decode("utf-8")


def ref_dict(ref: RecordRef) -> dict[str, Any]:
    """A record reference as its ``model_dump()`` (field order included), without pydantic's cost."""
    return {"source": ref.source, "record_type": ref.record_type, "key": ref.key, "fields": ref.fields,
            "role": ref.role}


def _content(values: dict[str, Any]) -> Content:
    raw = encode_json_bytes(values)
    return Content(raw, _sha256(raw).hexdigest()[:40])


_sha256 = hashlib.sha256
_text = str.__str__  # a StrEnum member's value, as plain text (its ``.value`` is a slower descriptor)


def content_of(finding: Finding) -> Content:
    """The content of a finding as a rule produced it (one encoding of the whole of it)."""
    return _content({
        "rule_id": finding.rule_id, "kind": finding.kind, "severity": _text(finding.severity),
        "owner": finding.owner, "entity_id": finding.entity_id, "subject": ref_dict(finding.subject),
        "records": [ref_dict(r) for r in finding.records], "story": finding.story,
        "confidence": float(finding.confidence), "detail": finding.detail, "detail_key": finding.detail_key,
    })


def content_from_dict(data: Mapping[str, Any]) -> Content:
    """The content of a finding given as JSON values (a stored copy, a ``findings`` row).

    The same content gives the same text and hash as :func:`content_of` does
    from the finding itself, so versions are shared.
    """
    return _content({
        "rule_id": data["rule_id"], "kind": data["kind"], "severity": str(data["severity"]),
        "owner": data["owner"], "entity_id": data.get("entity_id"), "subject": data["subject"],
        "records": data.get("records") or [], "story": data["story"],
        "confidence": float(data.get("confidence", 1.0)), "detail": data.get("detail") or {},
        "detail_key": data.get("detail_key") or "",
    })
