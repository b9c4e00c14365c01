"""The summary of a new subscription, shown live while it is being created (SPEC §4 "Summary of
a new subscription"): a pure function of the line items on the form, in integer minor units.

What it says, and why:
- **Due now** is what the first invoices at checkout bill: every recurring item whose billing
  starts today (no start date means "at purchase", today), plus the one-time items and the
  checkout fees when they are due today. One-time items and fees go on the subscription that
  starts billing first (the same decision as payment links and conversions in
  checkout.service), so they are due now only when that subscription starts today.
  *Subtotal* is that, after line discounts and before taxes and fees.
- **Future payments**: the first payment of everything charged later (a later start date).
- **Total**: every payment of every item — one-time items once, a fixed-term item times its
  number of payments — plus the fees. It cannot be computed (None, shown "—") while any
  recurring item auto-renews, as it then has no last payment.
- Line discounts and line taxes belong to the item: they repeat with every payment of it. Fees
  are charged once, on the first invoice (billing.invoicing), after discounts and taxes.

- **A free trial** moves each subscription's first invoice — its recurring items, and the one-time
  items and fees that go with it — to the trial's end, as subscriptions.service and the billing
  engine do: with a trial nothing is due now, and every first payment is a future payment.

Amounts use kit.money (line amounts, percentages) and catalog.service.fee_amount; start dates
come from the form (kit.periods computes delays and the trial's end).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol

from cadency.catalog import taxes
from cadency.catalog.models import Fee
from cadency.catalog.service import fee_amount
from cadency.kit import money, periods

AUTO_RENEW = "auto_renew"
FIXED = "fixed"


class Billed(Protocol):
    """What the grouping rule looks at: a `LineItemInput` of the API, or a `SummaryLine`."""

    @property
    def billing_frequency(self) -> str | None: ...

    @property
    def billing_terms(self) -> str | None: ...

    @property
    def number_of_payments(self) -> int | None: ...

    @property
    def billing_start_date(self) -> date | None: ...


GroupKey = tuple[str, str, date, int | None]


def group_key(line: Billed, today: date) -> GroupKey | None:
    """What recurring items must share to be on one subscription (SPEC §4): frequency, terms,
    start date and number of payments. None for a one-time item. "No start date" and "today"
    are the same start, as in checkout.service.group_items."""
    if not line.billing_frequency:
        return None
    return (
        str(line.billing_frequency),
        line.billing_terms or AUTO_RENEW,
        line.billing_start_date or today,
        line.number_of_payments,
    )


@dataclass(frozen=True)
class Grouping:
    """The subscriptions a purchase becomes. `groups` holds the positions of the recurring
    items of each subscription, in the order of their first item; `one_time` the positions of
    the one-time items, which go on the subscription that starts billing first."""

    groups: tuple[tuple[int, ...], ...]
    starts: tuple[date, ...]
    one_time: tuple[int, ...]

    @property
    def first(self) -> int | None:
        """Index of the group billed first: the earliest start, then the first in order."""
        if not self.groups:
            return None
        return min(range(len(self.groups)), key=lambda index: (self.starts[index], index))

    def positions(self, index: int) -> list[int]:
        """Positions of every item of subscription `index`, in the order of the form."""
        extra = self.one_time if index == self.first else ()
        return sorted((*self.groups[index], *extra))


def group_lines(lines: Sequence[Billed], today: date) -> Grouping:
    """Split line items into subscriptions by the grouping rule (SPEC §4)."""
    keys: dict[GroupKey, list[int]] = {}
    one_time: list[int] = []
    for position, line in enumerate(lines):
        key = group_key(line, today)
        if key is None:
            one_time.append(position)
        else:
            keys.setdefault(key, []).append(position)
    return Grouping(
        groups=tuple(tuple(positions) for positions in keys.values()),
        starts=tuple(key[2] for key in keys),
        one_time=tuple(one_time),
    )


@dataclass(frozen=True)
class Rate:
    """A tax rate of the tax library, as the summary needs it."""

    name: str
    percentage: Decimal


@dataclass(frozen=True)
class SummaryLine:
    """One line item of the form, priced in minor units of the subscription's currency."""

    name: str
    quantity: int
    unit_price: int
    unit_discount_percent: Decimal | None = None
    tax_rate: Rate | None = None
    billing_frequency: str | None = None  # None: one-time
    billing_terms: str | None = None  # recurring only; None means auto_renew
    number_of_payments: int | None = None  # with fixed terms
    billing_start_date: date | None = None  # None: at purchase

    @property
    def amount(self) -> int:
        """Quantity times the unit price after the unit discount (kit.money rounds per unit)."""
        return money.line_amount(self.unit_price, self.quantity, self.unit_discount_percent)

    @property
    def discount(self) -> int:
        return self.unit_price * self.quantity - self.amount

    @property
    def tax(self) -> int:
        return taxes.line_tax(self.amount, self.tax_rate.percentage if self.tax_rate else None)

    @property
    def payment(self) -> int:
        """One payment of this item: its amount with its tax."""
        return self.amount + self.tax

    @property
    def renews_until_canceled(self) -> bool:
        return bool(self.billing_frequency) and self.billing_terms != FIXED

    @property
    def payments(self) -> int:
        """How many times it is charged; only meaningful when it does not auto-renew."""
        if not self.billing_frequency:
            return 1
        return self.number_of_payments or 1


@dataclass(frozen=True)
class LineDiscount:
    name: str
    percent: Decimal
    amount: int  # per payment
    billing_frequency: str | None


@dataclass(frozen=True)
class LineTax:
    name: str
    rate: Rate
    amount: int  # per payment
    billing_frequency: str | None


@dataclass(frozen=True)
class FeeCharge:
    name: str
    amount: int


@dataclass(frozen=True)
class FuturePayment:
    """The first payment of something charged after checkout."""

    name: str
    on: date
    amount: int
    billing_frequency: str | None


@dataclass(frozen=True)
class Summary:
    subtotal: int  # due now, after line discounts, before taxes and fees
    discount_total: int  # line discounts of what is due now (already in the subtotal)
    tax_total: int  # line taxes of what is due now
    fee_total: int  # fees charged at checkout (0 when the first invoice is later)
    due_now: int  # subtotal + tax_total + fee_total
    future_payments: int  # first payments of everything charged later
    total: int | None  # every payment of every item; None while an item auto-renews
    subscriptions: int  # how many subscriptions the grouping rule makes
    discounts: tuple[LineDiscount, ...] = field(default=())
    taxes: tuple[LineTax, ...] = field(default=())
    fees: tuple[FeeCharge, ...] = field(default=())
    future: tuple[FuturePayment, ...] = field(default=())


def summarize(
    lines: Sequence[SummaryLine], today: date, fees: Sequence[Fee] = (), trial_days: int = 0
) -> Summary:
    """The summary of a subscription being created today from `lines`, with checkout `fees`
    (fees of the library; a fixed fee must be in the lines' currency) and a free trial of
    `trial_days` (0: none)."""
    grouping = group_lines(lines, today)
    first = grouping.first
    # One-time items and fees are billed with the first invoice of the first subscription.
    first_start = grouping.starts[first] if first is not None else today
    first_positions = grouping.positions(first) if first is not None else list(grouping.one_time)

    def after_trial(start: date) -> date:
        # Billing starts at the start date, but the first invoice waits for the trial's end.
        return periods.add_days(start, trial_days) if trial_days > 0 else start

    first_charge = after_trial(first_start)

    def charged_on(line: SummaryLine) -> date:
        if line.billing_frequency:
            return after_trial(line.billing_start_date or today)
        return first_charge

    now = [line for line in lines if charged_on(line) <= today]
    later = [line for line in lines if charged_on(line) > today]

    fee_base = sum(lines[position].payment for position in first_positions)
    charges = tuple(FeeCharge(fee.name, fee_amount(fee, fee_base)) for fee in fees)
    all_fees = sum(charge.amount for charge in charges)
    fees_now = first_charge <= today

    subtotal = sum(line.amount for line in now)
    tax_total = sum(line.tax for line in now)
    fee_total = all_fees if fees_now else 0
    future = [
        FuturePayment(line.name, charged_on(line), line.payment, line.billing_frequency)
        for line in later
    ]
    if not fees_now:
        future.extend(
            FuturePayment(charge.name, first_charge, charge.amount, None) for charge in charges
        )
    total = (
        None
        if any(line.renews_until_canceled for line in lines)
        else sum(line.payment * line.payments for line in lines) + all_fees
    )
    return Summary(
        subtotal=subtotal,
        discount_total=sum(line.discount for line in now),
        tax_total=tax_total,
        fee_total=fee_total,
        due_now=subtotal + tax_total + fee_total,
        future_payments=sum(payment.amount for payment in future),
        total=total,
        subscriptions=len(grouping.groups),
        discounts=tuple(
            LineDiscount(
                line.name, line.unit_discount_percent, line.discount, line.billing_frequency
            )
            for line in now
            if line.unit_discount_percent and line.discount
        ),
        taxes=tuple(
            LineTax(line.name, line.tax_rate, line.tax, line.billing_frequency)
            for line in now
            if line.tax_rate is not None
        ),
        fees=charges if fees_now else (),
        future=tuple(sorted(future, key=lambda payment: payment.on)),
    )
