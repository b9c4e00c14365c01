"""The filter editor's "Subscription: …" rows: folded into one "has a subscription where …"
per group when saved, unfolded into rows again where the editor can show them."""

from __future__ import annotations

from typing import Any

from cadency.views.filter_form import fold_related, unfold_related

STATUS = {"property": "status", "operator": "eq", "value": "active"}
ENDS = {"property": "end_date", "operator": "has_property"}


def nested(*filters: dict[str, Any], operator: str = "has_property") -> dict[str, Any]:
    return {
        "property": "associations.subscription",
        "operator": operator,
        "filter_groups": [{"filters": list(filters)}],
    }


def test_rows_of_one_group_fold_into_one_condition_and_back() -> None:
    rows = [
        {
            "filters": [
                {"property": "subscription.status", "operator": "eq", "value": "active"},
                {"property": "email", "operator": "has_property"},
                {"property": "subscription.end_date", "operator": "has_property"},
            ]
        },
        {"filters": [{"property": "subscription.status", "operator": "eq", "value": "paused"}]},
    ]
    folded = fold_related(rows)
    assert folded == [
        {"filters": [{"property": "email", "operator": "has_property"}, nested(STATUS, ENDS)]},
        {"filters": [nested({**STATUS, "value": "paused"})]},
    ]
    assert unfold_related(folded) == [
        {
            "filters": [
                {"property": "email", "operator": "has_property"},
                {"property": "subscription.status", "operator": "eq", "value": "active"},
                {"property": "subscription.end_date", "operator": "has_property"},
            ]
        },
        {"filters": [{"property": "subscription.status", "operator": "eq", "value": "paused"}]},
    ]


def test_shapes_rows_cannot_say_stay_as_they_are() -> None:
    either = {
        "property": "associations.subscription",
        "operator": "has_property",
        "filter_groups": [{"filters": [STATUS]}, {"filters": [ENDS]}],
    }
    groups = [
        {"filters": [nested(STATUS, operator="not_has_property")]},  # has no subscription where
        {"filters": [either]},  # an OR inside
        {"filters": [nested(STATUS), nested(ENDS)]},  # two subscriptions: rows would merge them
        {"filters": [{"property": "associations.subscription", "operator": "has_property"}]},
    ]
    assert unfold_related(groups) == groups
    assert fold_related(groups) == groups
