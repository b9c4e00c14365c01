"""The summary of a new subscription (SPEC §4): subtotal due now, future payments, total (none
while an item auto-renews), discounts, taxes and fees — exact minor units in 0-, 2- and
3-decimal currencies, and the same grouping as payment links and conversions."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cadency.catalog.models import Fee
from cadency.checkout.service import Item, group_items
from cadency.kit import money
from cadency.kit.periods import BillingFrequency
from cadency.subscriptions.summary import (
    FeeCharge,
    FuturePayment,
    LineDiscount,
    LineTax,
    Rate,
    SummaryLine,
    group_lines,
    summarize,
)

TODAY = date(2026, 3, 31)
NEXT_MONTH = date(2026, 4, 30)
VAT = Rate("VAT", Decimal("21"))


def coffee(**fields: Any) -> SummaryLine:
    """The monthly €10 x2 item with 10% discount and 21% tax."""
    values: dict[str, Any] = {
        "name": "Coffee",
        "quantity": 2,
        "unit_price": 1000,
        "unit_discount_percent": Decimal("10"),
        "tax_rate": VAT,
        "billing_frequency": "monthly",
        "billing_terms": "auto_renew",
    }
    values.update(fields)
    return SummaryLine(**values)


SETUP = SummaryLine(name="Setup fee", quantity=1, unit_price=2500)


def fee(name: str, *, amount: int | None = None, percentage: str | None = None) -> Fee:
    if amount is not None:
        return Fee(name=name, fee_type="fixed", amount=amount, currency="EUR")
    return Fee(name=name, fee_type="percentage", percentage=Decimal(percentage or "0"))


# --- examples -----------------------------------------------------------------------------------


def test_an_auto_renewing_item_and_a_setup_fee_are_due_now_and_the_total_is_unknown() -> None:
    summary = summarize([coffee(), SETUP], TODAY)
    # Coffee: 2 x (10.00 - 1.00) = 18.00, VAT 21% = 3.78; setup 25.00 without tax.
    assert summary.subtotal == 4300
    assert summary.discount_total == 200
    assert summary.tax_total == 378
    assert summary.fee_total == 0
    assert summary.due_now == 4678
    assert summary.future_payments == 0
    assert summary.total is None
    assert summary.subscriptions == 1
    assert summary.discounts == (LineDiscount("Coffee", Decimal("10"), 200, "monthly"),)
    assert summary.taxes == (LineTax("Coffee", VAT, 378, "monthly"),)


def test_with_a_fixed_number_of_payments_the_total_adds_every_payment() -> None:
    summary = summarize([coffee(billing_terms="fixed", number_of_payments=12), SETUP], TODAY)
    assert summary.due_now == 4678
    # Twelve payments of 21.78 and the setup fee once.
    assert summary.total == 12 * 2178 + 2500 == 28636


def test_an_item_that_starts_later_is_a_future_payment_and_so_are_one_time_items_with_it() -> None:
    later = coffee(billing_start_date=NEXT_MONTH)
    summary = summarize([later, SETUP], TODAY)
    # The only subscription starts next month: its first invoice carries the setup fee too.
    assert (summary.subtotal, summary.due_now) == (0, 0)
    assert summary.future_payments == 2178 + 2500
    assert summary.future == (
        FuturePayment("Coffee", NEXT_MONTH, 2178, "monthly"),
        FuturePayment("Setup fee", NEXT_MONTH, 2500, None),
    )
    assert summary.discounts == () and summary.taxes == ()


def test_one_time_items_go_with_the_subscription_billed_first() -> None:
    annual_later = SummaryLine(
        name="Grinder plan",
        quantity=1,
        unit_price=10000,
        billing_frequency="annually",
        billing_terms="fixed",
        number_of_payments=2,
        billing_start_date=NEXT_MONTH,
    )
    summary = summarize([annual_later, SETUP, coffee()], TODAY)
    assert summary.subscriptions == 2
    assert summary.due_now == 2178 + 2500
    assert summary.future_payments == 10000
    assert summary.total is None  # the coffee renews until canceled


def test_fees_apply_once_to_the_first_invoice_after_taxes() -> None:
    fees = [fee("Card surcharge", percentage="3"), fee("Handling", amount=150)]
    summary = summarize([coffee(billing_terms="fixed", number_of_payments=2), SETUP], TODAY, fees)
    # 3% of 46.78 = 1.4034 -> 1.40; handling 1.50.
    assert summary.fees == (FeeCharge("Card surcharge", 140), FeeCharge("Handling", 150))
    assert summary.fee_total == 290
    assert summary.due_now == 4678 + 290
    assert summary.total == 2 * 2178 + 2500 + 290


def test_fees_are_future_payments_when_the_first_invoice_is_later() -> None:
    summary = summarize(
        [coffee(billing_start_date=NEXT_MONTH)], TODAY, [fee("Handling", amount=150)]
    )
    assert summary.fee_total == 0 and summary.fees == ()
    assert summary.future_payments == 2178 + 150
    assert FuturePayment("Handling", NEXT_MONTH, 150, None) in summary.future


def test_a_free_trial_moves_the_first_invoice_to_the_trial_end() -> None:
    """The service starts a trial today and bills the first period, with the one-time items
    and fees, when it ends: nothing is due now."""
    fees = [fee("Handling", amount=150)]
    summary = summarize([coffee(), SETUP], TODAY, fees, trial_days=14)
    trial_end = date(2026, 4, 14)
    assert (summary.subtotal, summary.tax_total, summary.fee_total, summary.due_now) == (0, 0, 0, 0)
    assert summary.fees == () and summary.discounts == () and summary.taxes == ()
    assert summary.future == (
        FuturePayment("Coffee", trial_end, 2178, "monthly"),
        FuturePayment("Setup fee", trial_end, 2500, None),
        FuturePayment("Handling", trial_end, 150, None),
    )
    assert summary.future_payments == 2178 + 2500 + 150
    assert summary.total is None  # the coffee still renews until canceled


def test_a_trial_counts_from_a_later_start_and_keeps_the_total() -> None:
    line = coffee(billing_terms="fixed", number_of_payments=3, billing_start_date=NEXT_MONTH)
    summary = summarize([line], TODAY, trial_days=7)
    assert summary.due_now == 0
    assert summary.future == (FuturePayment("Coffee", date(2026, 5, 7), 2178, "monthly"),)
    # A trial delays the payments; it does not take one away.
    assert summary.total == summarize([line], TODAY).total == 3 * 2178


def test_nothing_to_summarise() -> None:
    summary = summarize([], TODAY)
    assert (summary.subtotal, summary.due_now, summary.future_payments, summary.total) == (
        0,
        0,
        0,
        0,
    )
    assert summary.subscriptions == 0


def test_the_grouping_rule_splits_a_monthly_and_an_annual_item() -> None:
    annual = coffee(name="Annual", billing_frequency="annually")
    monthly_today = coffee(billing_start_date=TODAY)  # "today" is "at purchase"
    grouping = group_lines([coffee(), annual, SETUP, monthly_today], TODAY)
    assert grouping.groups == ((0, 3), (1,))
    assert grouping.one_time == (2,)
    assert grouping.first == 0
    assert grouping.positions(0) == [0, 2, 3]
    assert grouping.positions(1) == [1]


def test_the_first_group_is_the_one_that_starts_first() -> None:
    later = coffee(billing_start_date=NEXT_MONTH)
    grouping = group_lines(
        [later, SETUP, coffee(name="Annual", billing_frequency="annually")], TODAY
    )
    assert grouping.first == 1
    assert grouping.positions(1) == [1, 2]


# --- properties ---------------------------------------------------------------------------------

# Pure arithmetic: deadline=None, so a busy machine cannot fail these on timing.
CURRENCIES = {"JPY": 0, "EUR": 2, "KWD": 3}
FREQUENCIES = [None, *(f.value for f in BillingFrequency)]


@st.composite
def lines(draw: st.DrawFn, exponent: int) -> SummaryLine:
    """A line item as the form sends it: a price typed with the currency's decimals."""
    whole = draw(st.integers(min_value=0, max_value=99_999))
    fraction = draw(st.integers(min_value=0, max_value=10**exponent - 1)) if exponent else 0
    price = f"{whole}.{fraction:0{exponent}d}" if exponent else str(whole)
    frequency = draw(st.sampled_from(FREQUENCIES))
    terms = draw(st.sampled_from(["auto_renew", "fixed"])) if frequency else None
    discount = draw(st.none() | st.decimals(min_value=0, max_value=100, places=2))
    rate = draw(st.none() | st.decimals(min_value=0, max_value=30, places=3))
    return SummaryLine(
        name=draw(st.sampled_from(["A", "B", "C"])),
        quantity=draw(st.integers(min_value=1, max_value=50)),
        unit_price=money.parse_amount(price, draw(st.sampled_from(_codes(exponent)))),
        unit_discount_percent=discount,
        tax_rate=Rate("Tax", rate) if rate is not None else None,
        billing_frequency=frequency,
        billing_terms=terms,
        number_of_payments=draw(st.integers(min_value=1, max_value=36))
        if terms == "fixed"
        else None,
        billing_start_date=draw(
            st.none() | st.sampled_from([TODAY, TODAY + timedelta(days=10), NEXT_MONTH])
        )
        if frequency
        else None,
    )


def _codes(exponent: int) -> list[str]:
    return [code for code, places in CURRENCIES.items() if places == exponent]


purchases = st.sampled_from(sorted(set(CURRENCIES.values()))).flatmap(
    lambda exponent: st.tuples(st.just(exponent), st.lists(lines(exponent), max_size=6))
)


def _round(value: Decimal, exponent: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


@settings(max_examples=300, deadline=None)
@given(purchases)
def test_amounts_match_decimal_arithmetic_in_major_units(
    purchase: tuple[int, list[SummaryLine]],
) -> None:
    """An independent oracle: the same sums in Decimal major units, rounded half up to the
    currency's decimals per unit discount and per line tax (as invoices round them)."""
    exponent, items = purchase
    scale = Decimal(10) ** exponent
    summary = summarize(items, TODAY)
    subtotal = discounts = taxes = Decimal(0)
    for line in items:
        if (line.billing_start_date or TODAY) > TODAY and line.billing_frequency:
            continue
        if (
            not line.billing_frequency
            and summary.subscriptions
            and all(
                (other.billing_start_date or TODAY) > TODAY
                for other in items
                if other.billing_frequency
            )
        ):
            continue  # one-time items wait for the first subscription's start
        price = Decimal(line.unit_price) / scale
        unit_discount = _round(price * (line.unit_discount_percent or 0) / 100, exponent)
        amount = (price - unit_discount) * line.quantity
        subtotal += amount
        discounts += unit_discount * line.quantity
        if line.tax_rate is not None:
            taxes += _round(amount * line.tax_rate.percentage / 100, exponent)
    assert Decimal(summary.subtotal) / scale == subtotal
    assert Decimal(summary.discount_total) / scale == discounts
    assert Decimal(summary.tax_total) / scale == taxes
    assert summary.due_now == summary.subtotal + summary.tax_total


@settings(max_examples=300, deadline=None)
@given(purchases, st.booleans())
def test_every_first_payment_is_due_now_or_later_and_the_total_counts_every_payment(
    purchase: tuple[int, list[SummaryLine]], with_fees: bool
) -> None:
    _, items = purchase
    fees = [fee("Surcharge", percentage="2.5"), fee("Handling", amount=99)] if with_fees else []
    summary = summarize(items, TODAY, fees)
    all_fees = sum(charge.amount for charge in summary.fees) + sum(
        p.amount for p in summary.future if p.name in ("Surcharge", "Handling")
    )
    assert (
        summary.due_now + summary.future_payments == sum(line.payment for line in items) + all_fees
    )
    renews = any(line.billing_frequency and line.billing_terms != "fixed" for line in items)
    if renews:
        assert summary.total is None
    else:
        assert (
            summary.total
            == sum(line.payment * (line.number_of_payments or 1) for line in items) + all_fees
        )
        assert summary.total >= summary.due_now + summary.future_payments
    assert all(
        isinstance(v, int) for v in (summary.subtotal, summary.due_now, summary.future_payments)
    )


@settings(max_examples=200, deadline=None)
@given(purchases, st.booleans(), st.integers(min_value=1, max_value=730))
def test_with_a_trial_every_first_payment_is_a_future_payment(
    purchase: tuple[int, list[SummaryLine]], with_fees: bool, trial_days: int
) -> None:
    _, items = purchase
    fees = [fee("Surcharge", percentage="2.5"), fee("Handling", amount=99)] if with_fees else []
    without, trial = summarize(items, TODAY, fees), summarize(items, TODAY, fees, trial_days)
    assert trial.due_now == trial.subtotal == trial.fee_total == 0
    assert trial.future_payments == without.due_now + without.future_payments
    assert trial.total == without.total
    assert all(payment.on > TODAY for payment in trial.future)


@settings(max_examples=200, deadline=None)
@given(purchases, purchases)
def test_what_is_due_now_adds_up_line_by_line(
    first: tuple[int, list[SummaryLine]], second: tuple[int, list[SummaryLine]]
) -> None:
    """Starting today, two baskets together cost what each costs alone: rounding is per line,
    never on the sum."""
    a = [line for line in first[1] if not line.billing_start_date]
    b = [line for line in second[1] if not line.billing_start_date]
    both, alone_a, alone_b = summarize(a + b, TODAY), summarize(a, TODAY), summarize(b, TODAY)
    for name in ("subtotal", "discount_total", "tax_total", "due_now"):
        assert getattr(both, name) == getattr(alone_a, name) + getattr(alone_b, name)
    assert both.future_payments == 0


@settings(max_examples=200, deadline=None)
@given(purchases, st.randoms(use_true_random=False))
def test_the_order_of_the_lines_does_not_change_the_amounts(
    purchase: tuple[int, list[SummaryLine]], random: Any
) -> None:
    _, items = purchase
    shuffled = list(items)
    random.shuffle(shuffled)
    one, other = summarize(items, TODAY), summarize(shuffled, TODAY)
    assert (one.subtotal, one.tax_total, one.due_now, one.future_payments, one.total) == (
        other.subtotal,
        other.tax_total,
        other.due_now,
        other.future_payments,
        other.total,
    )
    assert one.subscriptions == other.subscriptions


@settings(max_examples=300, deadline=None)
@given(purchases)
def test_the_grouping_is_the_one_of_payment_links_and_conversions(
    purchase: tuple[int, list[SummaryLine]],
) -> None:
    _, items = purchase
    grouping = group_lines(items, TODAY)
    sold = [
        Item(
            source_id=str(position),
            name=line.name,
            product_id=None,
            quantity=line.quantity,
            unit_price=line.unit_price,
            unit_discount_percent=line.unit_discount_percent,
            tax_rate_id=None,
            currency="EUR",
            billing_frequency=line.billing_frequency,
            billing_terms=line.billing_terms,
            number_of_payments=line.number_of_payments,
            billing_start_date=line.billing_start_date,
            amount=line.amount,
        )
        for position, line in enumerate(items)
    ]
    groups, one_time = group_items(sold, TODAY)
    assert [tuple(int(i.source_id) for i in g.items) for g in groups] == list(grouping.groups)
    assert [int(i.source_id) for i in one_time] == list(grouping.one_time)
    if groups:
        first = min(groups, key=lambda group: (group.start, group.order))
        assert grouping.first == first.order
