"""The evidence's leaner lookups give what the plain ones give.

:class:`_IdentityRids` answers what a set of every identity rid answers, and
:meth:`_Parents._load` maps rids to parent rids as the Series it replaced did.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.match._evidence import _IdentityRids, _Parents


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet="abc:", max_size=4), max_size=12, unique=True),
    st.sets(st.text(alphabet="abc:", max_size=4), max_size=8),
    st.lists(st.text(alphabet="abc:", max_size=4), max_size=8),
)
def test_identity_rids_answer_as_a_set(index: list[str], wanted: set[str], others: list[str]) -> None:
    known = _IdentityRids(pd.Index(index, dtype=object), wanted)
    plain = set(pd.Index(index, dtype=object).astype(str))
    for rid in [*wanted, *others, *index]:
        assert (rid in known) == (rid in plain), rid


def _former_load(frame: pd.DataFrame, only: set[str] | None) -> dict[str, str]:
    """_Parents._load as it was written with Series (the reference)."""
    known = frame["_parent_rid"].notna().to_numpy()
    rids = frame["_rid"][known].astype(str)
    parents = frame["_parent_rid"][known]
    if only is not None:
        named = rids.isin(only).to_numpy()
        rids, parents = rids[named], parents[named]
    return dict(zip(rids, parents.astype(str), strict=True))


_RID = st.text(alphabet="ab:1", max_size=5)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_RID, st.one_of(st.none(), st.just(float("nan")), _RID)), max_size=12),
    st.one_of(st.none(), st.sets(_RID, max_size=6)),
)
def test_parents_load_as_the_series_did(rows: list[tuple[str, object]], only: set[str] | None) -> None:
    frame = pd.DataFrame({"_rid": [r for r, _ in rows], "_parent_rid": [p for _, p in rows]}, dtype=object)
    parents = _Parents({"invoice": frame}, set())
    assert parents._load("invoice", only) == _former_load(frame, only)
    if only is not None:  # the rids as an Index, as identity_rid passes them; repeats or not
        assert parents._load("invoice", pd.Index(sorted(only) * 2, dtype=object)) == _former_load(frame, only)
