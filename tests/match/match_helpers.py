"""Identity frames for matching tests: hand-built rows and a synthetic population.

Frames carry the normalised ``_n_*`` columns directly (as normalise would
write them), so these tests do not depend on the normalisers.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from hypothesis import strategies as st

from reconcile.demo import _data as D
from reconcile.match import MatchingConfig

COLUMNS = sorted(MatchingConfig().columns() | {"_n_person", "_n_address"})
TYPES = {"billing": "account", "crm": "contact", "inventory": "service_line", "dealer": "vehicle",
         "recalls": "recall_notice"}


def record(source: str, key: str, **fields: Any) -> dict[str, Any]:
    """One identity row: ``_rid`` from source, type and key; unspecified columns missing.

    ``_n_person`` and ``_n_address`` are derived as normalise derives them.
    """
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    record_type = fields.pop("_type", TYPES.get(source, "account"))
    row.update(_rid=f"{source}:{record_type}:{key}", _source=source, _type=record_type, _key=key)
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise KeyError(f"not an identity column: {sorted(unknown)}")
    row.update(fields)
    given, family = row["_n_given"], row["_n_family"]
    if row["_n_person"] is None and (given or family):
        row["_n_person"] = " ".join(p for p in (given, family) if p)
    if row["_n_address"] is None and row["_n_street"] and row["_n_postal"]:
        row["_n_address"] = f"{row['_n_street']}|{row['_n_unit'] or ''}|{row['_n_postal']}"
    return row


def frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """An identity frame from rows made by :func:`record`."""
    return pd.DataFrame(list(rows), columns=["_rid", "_source", "_type", "_key", *COLUMNS])


def _swap(word: str, rng: random.Random) -> str:
    positions = [i for i in range(len(word) - 1) if word[i] != word[i + 1]]
    if not positions:
        return word
    i = rng.choice(positions)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def population(people: int, seed: int = 1, *, postals: int = 25) -> tuple[pd.DataFrame, pd.Series]:
    """A population: ``people`` persons, each written by 1-4 systems with noise.

    Names come from the demo's lists (so surnames are shared by many people
    and postal codes by many more); phones and emails are each person's own,
    often missing; names get typos, units go missing.

    Returns:
        The identity frame, and the true person of every ``_rid``.
    """
    rng = random.Random(seed)
    given_names = sorted({g.lower() for g in (*D.GIVEN_MALE, *D.GIVEN_FEMALE)})
    family_names = sorted({f.lower() for f in D.FAMILY})
    streets = [s.lower() for s in D.STREETS]
    postal_codes = [f"{10001 + 37 * k:05d}" for k in range(postals)]
    rows = []
    truth = {}
    for p in range(people):
        given, family = rng.choice(given_names), rng.choice(family_names)
        street = f"{rng.randint(1, 9999)} {rng.choice(streets)} {rng.choice(['st', 'ave', 'rd', 'dr', 'ln'])}"
        unit = str(rng.randint(1, 30)) if rng.random() < 0.25 else None
        postal = rng.choice(postal_codes)
        phone = f"+1{rng.randint(201, 989)}{p:07d}"
        email = f"{given}.{family}{p}@example.com"
        birth = f"19{rng.randint(40, 99)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        sources = rng.sample(["billing", "crm", "inventory", "dealer"], rng.randint(1, 4))
        for source in sources:
            r = rng.random
            row = record(
                source,
                f"P{p:05d}",
                _n_given=_swap(given, rng) if r() < 0.03 else given,
                _n_family=_swap(family, rng) if r() < 0.05 else family,
                _n_phone=phone if r() < 0.8 else None,
                _n_email=email if r() < 0.6 else None,
                _n_street=_swap(street, rng) if r() < 0.03 else street,
                _n_unit=unit if r() < 0.8 else None,
                _n_postal=postal,
                birth_date=birth if r() < 0.4 else None,
            )
            rows.append(row)
            truth[row["_rid"]] = f"P{p:05d}"
    return frame(rows), pd.Series(truth, name="person")


def pairwise(entity_of: pd.Series, truth: pd.Series) -> tuple[float, float]:
    """Pairwise precision and recall of the entities against the true grouping."""
    both = pd.DataFrame({"entity": entity_of, "truth": truth.reindex(entity_of.index)})

    def pairs(groups: Any) -> int:
        sizes = groups.size()
        return int((sizes * (sizes - 1) // 2).sum())

    predicted = pairs(both.groupby("entity"))
    actual = pairs(both.groupby("truth"))
    correct = pairs(both.groupby(["entity", "truth"]))
    return (correct / predicted if predicted else 1.0), (correct / actual if actual else 1.0)


# Hypothesis: small identity frames whose normalised values collide often.
_GIVEN = st.sampled_from(["ann", "anne", "bob", "robert", None])
_FAMILY = st.sampled_from(["lee", "li", "smith", "smyth", None])
_PHONE = st.sampled_from(["+12125550100", "+12125550101", None])
_EMAIL = st.sampled_from(["a@x.example", "b@x.example", None])
_STREET = st.sampled_from(["1 main st", "1 mian st", "2 main st", None])
_POSTAL = st.sampled_from(["10001", "10002", None])


@st.composite
def identity_frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=0, max_value=25))
    rows = []
    for i in range(n):
        source = draw(st.sampled_from(["billing", "crm", "inventory"]))
        rows.append(
            record(
                source, f"K{i}", _n_given=draw(_GIVEN), _n_family=draw(_FAMILY), _n_phone=draw(_PHONE),
                _n_email=draw(_EMAIL), _n_street=draw(_STREET), _n_postal=draw(_POSTAL),
            )
        )
    return frame(rows)
