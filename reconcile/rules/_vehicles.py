"""Automotive kind: ``recall_missing_locally`` (story 2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field
from rapidfuzz.distance import Levenshtein

from reconcile.findings import Finding
from reconcile.rules._common import (
    BuiltinRule,
    confidence,
    cutoff_day,
    day,
    entity_key,
    entity_or_none,
    group_rows,
    is_in,
    min_confidence,
    normalised,
    parent_rid,
    records,
    take,
    text,
    utc,
    with_columns,
)
from reconcile.rules.base import RuleContext
from reconcile.rules.example import RuleExample

__all__ = ["RecallMissingLocallyRule"]

NOTICE_FIELDS = ("notice_id", "campaign", "vin", "notice_date", "remedy_status", "name")
VEHICLE_FIELDS = ("vehicle_id", "vin", "make", "model", "year", "given_name", "family_name")
DEALER_RECALL_FIELDS = ("dealer_recall_id", "vehicle_id", "campaign", "status", "opened_at")
REPAIR_FIELDS = ("repair_order_id", "vehicle_id", "opened_at", "campaign", "status", "description")


def _campaign(series: pd.Series) -> pd.Series:
    """Campaign codes compared without case or surrounding spaces ('' if missing)."""
    return series.astype("string").str.strip().str.upper().fillna("").astype(object)


def _vin_columns(table: pd.DataFrame, fields: tuple[str, ...]) -> Any:
    """The columns to take: ``fields`` and the normalised VIN, or every column if it is missing.

    Without the normalised column, :func:`normalised` computes it from ``vin``.
    """
    if "_n_vin" in table.columns:
        return (*fields, "_n_vin")
    return table.columns


class RecallMissingLocallyRule(BuiltinRule):
    """Head office has an open recall the dealer who knows the vehicle does not have.

    A recall notice with an open remedy status, dated before the day of
    ``as_of - grace`` (or undated), whose entity holds a dealer ``vehicle``
    with the same normalised VIN or one within ``max_vin_distance`` edits (a
    typed-in VIN: one wrong, missing or extra character); none of those
    vehicles has a dealer recall of the same campaign in ``dealer_statuses``.
    If no dealer vehicle matches the VIN the dealer does not know the vehicle,
    which is not a finding. One finding per notice (its campaign is the
    detail key); a notice no entity holds is alone and so never a finding.

    Attributes:
        notice_statuses: Notice remedy statuses that are still open.
        dealer_statuses: Dealer recall statuses that mean the dealer has the campaign.
        max_vin_distance: Edits allowed between the notice's and the dealer's VIN.
    """

    kind: Literal["recall_missing_locally"] = "recall_missing_locally"
    entity_local = True
    notice_statuses: list[str] = Field(default_factory=lambda: ["open"])
    dealer_statuses: list[str] = Field(default_factory=lambda: ["open", "completed"])
    max_vin_distance: int = Field(default=1, ge=0, le=3)

    story: ClassVar[str] = (
        "Recall {campaign} is open at head office for VIN {vin} (notice {notice} of {notice_date}), "
        "but the dealer's vehicle {vehicle} ({vin_match}) does not have the campaign; {repair_state}: "
        "load the campaign at the dealer so the repair is not refused."
    )
    facts: ClassVar[dict[str, str]] = {
        "campaign": "the recall campaign (also the finding's detail key)",
        "notice": "the head-office notice id",
        "notice_date": "the notice's date ('an unknown date' if none)",
        "vin": "the VIN on the notice",
        "vehicle": "the dealer's vehicle id",
        "dealer_vin": "the VIN as the dealer typed it",
        "vin_distance": "edits between the two normalised VINs (0: the same)",
        "vin_match": "how the VINs were matched, such as 'dealer VIN 1HG... is one character off'",
        "repair_state": "'no repair order for it' or the repair orders of the campaign found",
        "dealer_state": "'the dealer has no record of the campaign' or its inactive records",
    }
    example: ClassVar[RuleExample] = RuleExample(
        owner="service",
        records={
            "recall_notice": [{"notice_id": "RN-0000035", "campaign": "24V-318", "vin": "1HGCM82633A004352",
                               "notice_date": "2026-09-01", "name": "Ann Lee"}],
            "vehicle": [{"vehicle_id": "V-95", "vin": "1HGCM82633A0O4352", "make": "Honda", "model": "Accord",
                         "given_name": "Ann", "family_name": "Lee"}],
            "repair_order": [{"repair_order_id": "RO-1", "vehicle_id": "V-95", "opened_at": "2026-05-04",
                              "description": "oil change"}],
        },
    )

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        notices = ctx.table("recall_notice")
        if notices.empty:
            return
        dated = utc(notices["notice_date"])
        keep = is_in(notices["remedy_status"], self.notice_statuses) & (
            dated.isna() | (dated < cutoff_day(ctx.as_of, self.grace))
        )
        keep = (keep & notices["campaign"].notna()).to_numpy()
        vehicles = ctx.table("vehicle")
        if not keep.any() or vehicles.empty:
            return
        notices = with_columns(take(notices, _vin_columns(notices, NOTICE_FIELDS), keep), _date=dated[keep])
        notices = with_columns(notices, _ekey=entity_key(notices), _camp=_campaign(notices["campaign"]),
                                 _conf=confidence(notices))
        notices = normalised(notices[notices["_camp"] != ""], "recall_notice", ("_n_vin",))
        ekey = entity_key(vehicles)
        theirs = ekey.isin(notices["_ekey"]).to_numpy()
        vehicles = take(vehicles, _vin_columns(vehicles, VEHICLE_FIELDS), theirs)
        vehicles = with_columns(vehicles, _ekey=ekey[theirs], _conf=confidence(vehicles))
        vehicles = normalised(vehicles, "vehicle", ("_n_vin",))

        pairs = notices[["_rid", "_ekey", "_n_vin", "_camp"]].merge(
            vehicles[["_rid", "_ekey", "_n_vin"]], on="_ekey", suffixes=("", "_veh")
        )
        pairs = pairs[pairs["_n_vin"].notna() & pairs["_n_vin_veh"].notna()]
        if pairs.empty:
            return
        exact = (pairs["_n_vin"] == pairs["_n_vin_veh"]).to_numpy(dtype=bool)
        distance = np.zeros(len(pairs), dtype=np.int64)
        inexact = pairs.loc[~exact]
        distance[~exact] = [
            Levenshtein.distance(str(a), str(b), score_cutoff=self.max_vin_distance + 1)
            for a, b in zip(inexact["_n_vin"], inexact["_n_vin_veh"], strict=True)
        ]
        pairs = with_columns(pairs, _dist=distance)
        pairs = pairs[pairs["_dist"] <= self.max_vin_distance]
        if pairs.empty:
            return

        dealer = take(ctx.table("dealer_recall"), DEALER_RECALL_FIELDS)
        dealer = with_columns(dealer, _veh=parent_rid(dealer, "dealer_recall"), _camp=_campaign(dealer["campaign"]))
        known = dealer[is_in(dealer["status"], self.dealer_statuses)]
        has = pairs.merge(
            known[["_veh", "_camp"]].drop_duplicates(), left_on=["_rid_veh", "_camp"], right_on=["_veh", "_camp"]
        )
        pairs = pairs[~pairs["_rid"].isin(has["_rid"])]
        if pairs.empty:
            return

        # Only the matched vehicles' records are shown; narrow once, not per notice.
        repairs = ctx.table("repair_order")
        vehicle_of = parent_rid(repairs, "repair_order")
        shown = vehicle_of.isin(pairs["_rid_veh"]).to_numpy()
        repairs = take(repairs, REPAIR_FIELDS, shown)
        repairs = with_columns(repairs, _veh=vehicle_of[shown], _camp=_campaign(repairs["campaign"]))
        dealer = dealer[dealer["_veh"].isin(pairs["_rid_veh"])]
        dealer = group_rows(with_columns(dealer, _conf=confidence(dealer)).sort_values("_rid"), "_veh",
                            (*DEALER_RECALL_FIELDS, "_camp", "_conf"))
        repairs = group_rows(with_columns(repairs, _conf=confidence(repairs)).sort_values("_rid"), "_veh",
                             (*REPAIR_FIELDS, "_camp", "_conf"))
        notice_rows = group_rows(notices[notices["_rid"].isin(pairs["_rid"])], "_rid",
                                 (*NOTICE_FIELDS, "_ekey", "_camp", "_conf", "_date"))
        vehicle_rows = group_rows(vehicles[vehicles["_rid"].isin(pairs["_rid_veh"])], "_rid",
                                  (*VEHICLE_FIELDS, "_conf"))
        pairs = pairs.sort_values(["_rid", "_dist", "_rid_veh"], kind="stable")
        matches = group_rows(pairs, "_rid", ("_rid_veh", "_dist"))
        for notice_rid in sorted(matches):
            (notice,) = notice_rows[notice_rid]
            matched = matches[notice_rid]
            best = matched[0]
            matched_rids = [m["_rid_veh"] for m in matched]
            matched_vehicles = [vehicle_rows[rid][0] for rid in matched_rids]
            vehicle = matched_vehicles[0]
            others = sorted(
                (r for rid in matched_rids for r in dealer.get(rid, []) if r["_camp"] == notice["_camp"]),
                key=lambda r: r["_rid"],
            )
            fixes = sorted(
                (r for rid in matched_rids for r in repairs.get(rid, []) if r["_camp"] == notice["_camp"]),
                key=lambda r: r["_rid"],
            )
            subject = records([notice], "recall_notice", NOTICE_FIELDS, "notice")[0]
            involved = [
                subject,
                *records(matched_vehicles, "vehicle", VEHICLE_FIELDS, "dealer_vehicle"),
                *records(others, "dealer_recall", DEALER_RECALL_FIELDS, "dealer_recall"),
                *records(fixes, "repair_order", REPAIR_FIELDS, "repair_order"),
            ]
            dist = int(best["_dist"])
            dealer_vin = text(vehicle.get("vin"))
            if dist == 0 and dealer_vin == text(notice.get("vin")):
                vin_match = "same VIN"
            elif dist == 0:
                vin_match = f"dealer VIN {dealer_vin}, the same once normalised"
            elif dist == 1:
                vin_match = f"dealer VIN {dealer_vin}, one character off"
            else:
                vin_match = f"dealer VIN {dealer_vin}, {dist} characters off"
            if not fixes:
                repair_state = "no repair order for it exists"
            else:
                repair_state = "; ".join(
                    f"repair order {text(r.get('repair_order_id'), r['_key'])} is "
                    f"{text(r.get('status'), 'of unknown status')}"
                    for r in fixes
                )
            if not others:
                dealer_state = "the dealer has no record of the campaign"
            else:
                dealer_state = "; ".join(
                    f"dealer recall {text(r.get('dealer_recall_id'), r['_key'])} is "
                    f"{text(r.get('status'), 'of unknown status')}"
                    for r in others
                )
            facts = {
                "campaign": text(notice.get("campaign")).strip(),
                "notice": text(notice.get("notice_id"), str(notice["_key"])),
                "notice_date": day(notice["_date"]) or "an unknown date",
                "vin": text(notice.get("vin")),
                "vehicle": text(vehicle.get("vehicle_id"), str(vehicle["_key"])),
                "dealer_vin": dealer_vin,
                "vin_distance": dist,
                "vin_match": vin_match,
                "repair_state": repair_state,
                "dealer_state": dealer_state,
            }
            yield self.finding(
                subject=subject,
                records=involved,
                entity_id=entity_or_none(notice["_ekey"]),
                confidence=min_confidence([r["_conf"] for r in (notice, *matched_vehicles, *others, *fixes)]),
                facts=facts,
                detail_key=str(notice["_camp"]),
            )
