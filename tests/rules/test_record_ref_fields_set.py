"""Records of findings share one fields-set: nothing a caller can do to one changes another's."""

from __future__ import annotations

import pydantic
import pytest

from reconcile.findings import RecordRef
from reconcile.rules._common import _ALL_REF_FIELDS, _REF_FIELDS, _record_ref


def test_shared_fields_set_stays_whole() -> None:
    first = _record_ref("billing", "account", "A1", {"status": "active"}, None)
    second = _record_ref("crm", "contact", "C1", {}, "contact")
    assert first.model_fields_set == second.model_fields_set == set(_REF_FIELDS)
    assert first == RecordRef.model_construct(source="billing", record_type="account", key="A1",
                                              fields={"status": "active"}, role=None)
    copied = first.model_copy(update={"role": "mandate"})
    assert copied.role == "mandate" and copied.model_fields_set is not _ALL_REF_FIELDS
    with pytest.raises(pydantic.ValidationError):
        second.role = "other"  # frozen: refused before the fields-set is touched
    assert set(_REF_FIELDS) == _ALL_REF_FIELDS
    assert second.model_dump(exclude_unset=True) == {"source": "crm", "record_type": "contact", "key": "C1",
                                                     "fields": {}, "role": "contact"}
