"""The words of a subscription's terms, as enums so a misspelled one is a type error. Being a
`str`, a member is stored, sent and compared as its value."""

from __future__ import annotations

from enum import StrEnum


class CollectionMethod(StrEnum):
    """How a subscription's invoices are paid (SPEC §4)."""

    CHARGE_AUTOMATICALLY = "charge_automatically"
    SEND_INVOICE = "send_invoice"


class BillingTerms(StrEnum):
    """Whether a recurring item renews until canceled or runs a fixed number of payments."""

    AUTO_RENEW = "auto_renew"
    FIXED = "fixed"
