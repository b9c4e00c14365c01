"""The billing engine: brings one subscription up to "now". It asks the planner
(`billing.planner`) for the earliest step due — a start, a trial end, a cancellation, a
renewal (invoice + charge), a bank-debit settlement, a dunning retry, an overdue invoice, an
expiry — does it, and asks again until nothing is due; then it sends the reminders due and
stores when it next has work (`planner.wake_at`).

Exactly once: invoicing recomputes which period is due from the subscription's own counters and
writes only what is missing; the UNIQUE (subscription_id, cycle_period_start) constraint on
invoices and the unique payment idempotency key are the backstop when two workers race, and
the outbox's dedup key keeps every side effect single. Running the engine again over the same
time writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.billing import invoicing, ledger, payloads, planner, refunds
from cadency.billing.state import (
    apply_pending_change,
    record_event,
    refresh_derived,
    restart_billing,
)
from cadency.catalog.models import Product
from cadency.invoices.models import Invoice
from cadency.kit import money, outbox, periods
from cadency.kit.events import EventType
from cadency.kit.ids import new_id
from cadency.kit.outbox import OutboxMessage
from cadency.kit.terms import BillingTerms, CollectionMethod
from cadency.payments import processor
from cadency.payments.models import Payment, PaymentMethod
from cadency.subscriptions.models import (
    LineItem,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
    cancellation_reasons,
)

# A guard against a bug looping forever on one subscription; real work needs far fewer steps.
MAX_STEPS = 10_000


class SubscriptionRun:
    """Brings one subscription up to `now`. Call `run()` inside a transaction or savepoint."""

    def __init__(
        self, session: Session, account: Account, subscription: Subscription, now: datetime
    ):
        self.session = session
        self.account = account
        self.sub = subscription
        self.now = now
        self.today = periods.local_date(now, account.timezone)
        self.changed = False

    # --- helpers -----------------------------------------------------------------------------

    def _money(self, amount: int) -> str:
        return money.format_amount(amount, self.sub.currency)

    def _event(self, event_type: EventType, data: dict[str, Any]) -> None:
        record_event(self.session, self.sub, event_type, data, self.account)
        self.changed = True

    def _emit(
        self, event_type: EventType, dedup: str, payload: dict[str, Any], *, fresh: bool = False
    ) -> bool:
        """Queue a side effect once; returns whether it was new."""
        message = outbox.emit(
            self.session,
            account_id=self.account.id,
            type=event_type,
            dedup_key=dedup,
            payload={
                "subscription_id": self.sub.id,
                "contact_id": self.sub.contact_id,
                "currency": self.sub.currency,
                **payload,
            },
            at=self.now,
            subscription_id=self.sub.id,
            fresh=fresh,
        )
        if message is not None:
            self.changed = True
        return message is not None

    def _set_status(self, status: SubscriptionStatus, reason: str) -> None:
        if ledger.transition(self.session, self.account, self.sub, status, reason, self.now):
            self.changed = True

    def _processing_payments(self) -> list[Payment]:
        return list(
            self.session.scalars(
                select(Payment)
                .where(Payment.subscription_id == self.sub.id, Payment.status == "processing")
                .order_by(Payment.id)
            )
        )

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> bool:
        """Do all due work; returns whether anything was written."""
        for _ in range(MAX_STEPS):
            if not self._step():
                break
        else:  # pragma: no cover - a bug, not a state a client can cause
            raise RuntimeError(f"billing engine did not settle for {self.sub.id}")
        self._reminders()
        self._schedule_next()
        return self.changed

    def _situation(self) -> planner.Situation:
        """What the planner needs to decide the next step, read fresh for every step."""
        sub = self.sub
        invoices = self._open_invoices()
        overdue = [i.id for i in invoices if i.attempt_count == 0 and i.due_date < self.today]
        fallback_matters = (sub.cancel_at is not None and sub.cancel_at == sub.commitment_end) or (
            sub.status == SubscriptionStatus.TRIALING and sub.payment_method_id is None
        )
        return planner.Situation(
            sub=sub,
            account=self.account,
            today=self.today,
            open_invoices=tuple(
                planner.OpenInvoice(i.id, i.due_date, i.next_attempt_date, i.attempt_count)
                for i in invoices
            ),
            pending_debits=tuple(
                planner.PendingDebit(p.id, p.settles_on) for p in self._processing_payments()
            ),
            overdue_announced=self._announced_overdue(overdue) if overdue else frozenset(),
            dunning_done=self._dunning_done() if overdue else frozenset(),
            has_fallback=fallback_matters and self._fallback_plan() is not None,
        )

    def _step(self) -> bool:
        """Do the earliest piece of work the planner finds due; False when nothing is."""
        step = planner.next_step(self._situation())
        sub = self.sub
        match step:
            case None:
                return False
            case planner.SettleDebits(payment_ids):
                self._settle_bank_debits(payment_ids)
            case planner.Start(into_trial):
                self._start(into_trial)
            case planner.Expire():
                self._expire()
            case planner.Downgrade(on):
                fallback = self._fallback_plan()
                assert fallback is not None
                self._downgrade(fallback, on)
            case planner.Cancel(on):
                self._cancel_now(on)
            case planner.EndTrial(downgrade):
                assert sub.trial_end is not None
                self._set_status(SubscriptionStatus.ACTIVE, "trial_ended")
                if downgrade:
                    fallback = self._fallback_plan()
                    assert fallback is not None
                    self._downgrade(fallback, sub.trial_end)
            case planner.Resume(on):
                self._resume(on)
            case planner.Retry(invoice_id):
                self._retry(invoice_id)
            case planner.Overdue(invoice_ids):
                self._overdue(invoice_ids)
            case planner.ManualDunningEnds(invoice_id):
                invoice = self.session.get(Invoice, invoice_id)
                assert invoice is not None
                self._dunning_exhausted(invoice, reason="invoice_overdue")
            case planner.Renew(period):
                self._renew(period)
        return True

    # --- starts, trials, cancellations, expiry --------------------------------------------------

    def _start(self, into_trial: bool) -> None:
        sub = self.sub
        if into_trial:
            assert sub.trial_end is not None
            sub.current_period_start, sub.current_period_end = sub.start_date, sub.trial_end
            self._set_status(SubscriptionStatus.TRIALING, "start_date_reached")
        else:
            self._set_status(SubscriptionStatus.ACTIVE, "start_date_reached")

    def _stop_collecting(self) -> None:
        """The subscription ended: its open invoices stay owed, but nothing retries them any
        more, so none may still show a retry date."""
        for invoice in self._open_invoices():
            if invoice.next_attempt_date is not None:
                invoice.next_attempt_date = None
                invoice.updated_at = self.now

    def _cancel_now(self, on: date) -> None:
        sub = self.sub
        reasons = cancellation_reasons(sub.cancellation_reason, sub.cancellation_reasons)
        data: dict[str, Any] = {
            "on": on.isoformat(),
            "reason": sub.cancellation_reason,
            "reasons": reasons,
        }
        message: dict[str, Any] = {
            "canceled_on": on.isoformat(),
            "reason": sub.cancellation_reason,
            "reasons": reasons,
        }
        if sub.cancel_refund and sub.cancel_refund != "none":
            # The refund chosen when the date was set, made now that the rest of the period is
            # unused. A bank debit still processing can be neither refunded nor stopped
            # (SPEC §6): it is left alone, and the timeline says so.
            data["refund"] = sub.cancel_refund
            if refunds.period_payment_in_flight(self.session, sub) is not None:
                data["pending_bank_payment"] = True
                refunded = 0
            else:
                refunded = refunds.refund_current_period(
                    self.session, self.account, sub, sub.cancel_refund, on
                )
            data["refunded_amount"] = message["refunded_amount"] = self._money(refunded)
        sub.canceled_at = periods.start_of_day_utc(on, self.account.timezone)
        sub.cancel_at_period_end = False
        sub.cancel_refund = None
        sub.next_payment_date = None
        self._stop_collecting()
        self._set_status(SubscriptionStatus.CANCELED, "scheduled_cancellation")
        self._event(EventType.SUBSCRIPTION_CANCELED, data)
        self._emit(EventType.SUBSCRIPTION_CANCELED, f"canceled:{sub.id}", message)

    def _fallback_plan(self) -> Product | None:
        for item in self.sub.line_items:
            if item.billing_frequency and item.product_id:
                product = self.session.get(Product, item.product_id)
                if product is not None and product.fallback_product_id:
                    return self.session.get(Product, product.fallback_product_id)
        return None

    def _downgrade(self, plan: Product, on: date) -> None:
        """Move to the free fallback plan, billed from `on` on its own frequency: when a
        commitment ends without renewal, instead of ending (SPEC §6), and when a trial ends
        with no payment method on file."""
        sub = self.sub
        old = [item.name for item in sub.line_items]
        assert plan.billing_frequency is not None
        sub.line_items = [
            LineItem(
                id=new_id("li"),
                account_id=sub.account_id,
                subscription_id=sub.id,
                position=0,
                name=plan.name,
                product_id=plan.id,
                quantity=1,
                unit_price=plan.unit_price,
                currency=plan.currency,
                billing_frequency=plan.billing_frequency,
                billing_terms=BillingTerms.AUTO_RENEW,
                amount=plan.unit_price,
                created_at=self.now,
            )
        ]
        sub.billing_frequency = plan.billing_frequency
        sub.billing_terms = BillingTerms.AUTO_RENEW
        sub.number_of_payments = None
        sub.end_date = None
        sub.cancel_at = None
        sub.cancel_at_period_end = False
        sub.cancel_refund = None
        sub.commitment_months = None
        sub.commitment_end = None
        sub.periods_billed = 0
        restart_billing(sub, on)
        sub.updated_at = self.now
        data = {"from": old, "to": [plan.name], "on": on.isoformat()}
        self._event(EventType.SUBSCRIPTION_DOWNGRADED, data)
        self._emit(EventType.SUBSCRIPTION_DOWNGRADED, f"downgraded:{sub.id}:{on.isoformat()}", data)

    def _resume(self, on: date) -> None:
        restart_billing(self.sub, on)
        self._set_status(SubscriptionStatus.ACTIVE, "resumed")

    def _expire(self) -> None:
        sub = self.sub
        assert sub.end_date is not None
        sub.next_payment_date = None
        self._set_status(SubscriptionStatus.EXPIRED, "term_completed")
        self._emit(
            EventType.SUBSCRIPTION_EXPIRED,
            f"expired:{sub.id}",
            {"end_date": sub.end_date.isoformat()},
        )

    # --- renewals --------------------------------------------------------------------------------

    def _renew(self, period: invoicing.Period) -> None:
        sub = self.sub
        start = period.start
        if sub.pending_change:
            change = apply_pending_change(self.session, self.account, sub, start)
            self._event(EventType.SUBSCRIPTION_PLAN_CHANGED, change)
            # A new frequency starts its own cycle on this day: the period ends where it says.
            period = planner.period_from(sub, start)
        end = period.end
        already = self.session.scalar(
            select(Invoice.id).where(
                Invoice.subscription_id == sub.id, Invoice.cycle_period_start == start
            )
        )
        if already is not None:
            # This period was billed before (e.g. resumed on the day a paid period began): it
            # stands as it is, and billing moves on to the next one.
            sub.current_period_start, sub.current_period_end = start, end
            sub.next_payment_date = end
            return
        first = sub.periods_billed == 0
        invoice = invoicing.issue_for_period(
            self.session, self.account, sub, period, first=first, now=self.now
        )
        ledger.period_billed(sub, period, self.now)
        total = self._money(invoice.total)
        self._event(
            EventType.INVOICE_CREATED,
            payloads.invoice_created_event(invoice.id, invoice.number, total, start, end),
        )
        self._emit(
            EventType.INVOICE_CREATED,
            f"invoice.created:{invoice.id}",
            payloads.invoice_created_message(
                invoice.id,
                invoice.number,
                total,
                invoice.due_date,
                invoice.collection_method,
                invoice.billing_reason,
            ),
            fresh=True,
        )
        if invoice.total == 0:
            invoicing.mark_paid(invoice, 0, self.now)
            return
        if sub.collection_method == CollectionMethod.CHARGE_AUTOMATICALLY and sub.payment_method_id:
            self.charge(invoice)

    # --- charging and dunning -----------------------------------------------------------------

    def charge(
        self,
        invoice: Invoice,
        method: PaymentMethod | None = None,
        *,
        result: processor.ChargeResult | None = None,
    ) -> Payment | None:
        """Charge the invoice's next attempt (or record `result`, the answer to an attempt
        made in bulk) and follow up on the outcome."""
        sub = self.sub
        if method is None and sub.payment_method_id:
            method = self.session.get(PaymentMethod, sub.payment_method_id)
        if method is None:
            return None
        payment = create_charge(self.session, self.account, invoice, method, self.now, result)
        sub.last_payment_amount = payment.amount
        sub.last_payment_status = payment.status
        if payment.status == "succeeded":
            self._payment_succeeded(invoice, payment)
        elif payment.status == "failed":
            self._payment_failed(invoice, payment)
        elif payment.status == processor.REQUIRES_ACTION:
            self._payment_needs_buyer(invoice, payment)
        else:
            invoice.next_attempt_date = None
            self._event(
                EventType.PAYMENT_PROCESSING,
                {
                    "payment_id": payment.id,
                    "invoice_id": invoice.id,
                    "settles_on": payment.settles_on.isoformat() if payment.settles_on else None,
                },
            )
        return payment

    def _payment_succeeded(
        self, invoice: Invoice, payment: Payment, *, paid_at: datetime | None = None
    ) -> None:
        sub = self.sub
        invoicing.mark_paid(invoice, payment.amount, paid_at or self.now)
        ledger.payment_collected(sub, payment.amount)
        first = sub.payments_completed == 1
        data = payloads.payment_succeeded_event(payment.id, invoice.id, self._money(payment.amount))
        self._event(EventType.PAYMENT_SUCCEEDED, data)
        self._emit(
            EventType.PAYMENT_SUCCEEDED,
            f"payment.succeeded:{payment.id}",
            {**data, "invoice_number": invoice.number, "first_payment": first},
            fresh=payment in self.session.new,
        )
        if sub.status == SubscriptionStatus.UNPAID and not self._still_past_due():
            self._set_status(SubscriptionStatus.ACTIVE, "payment_recovered")

    def _payment_failed(self, invoice: Invoice, payment: Payment) -> None:
        # A subscription that ended meanwhile (a bank debit settling after a cancel) has
        # nothing retried any more: the failure is recorded and the invoice stays owed.
        ended = self.sub.status in planner.ENDED
        retry_days = [] if ended else list(self.account.dunning_retry_days or [])
        attempt = invoice.attempt_count  # attempts made so far, this one included
        first_failure = self._first_failure_date(invoice)
        retries_left = attempt - 1 < len(retry_days)
        invoice.next_attempt_date = (
            periods.add_days(first_failure, retry_days[attempt - 1]) if retries_left else None
        )
        data = {
            "payment_id": payment.id,
            "invoice_id": invoice.id,
            "amount": self._money(payment.amount),
            "failure_reason": payment.failure_reason,
            "attempt": attempt,
            "next_retry_date": invoice.next_attempt_date.isoformat()
            if invoice.next_attempt_date
            else None,
        }
        self._event(EventType.PAYMENT_FAILED, data)
        self._emit(
            EventType.PAYMENT_FAILED,
            f"payment.failed:{payment.id}",
            {**data, "invoice_number": invoice.number},
        )
        if ended:
            return
        if retries_left:
            self._set_status(SubscriptionStatus.UNPAID, "payment_failed")
            return
        self._dunning_exhausted(invoice)

    def _payment_needs_buyer(self, invoice: Invoice, payment: Payment) -> None:
        """The buyer must authenticate the charge (3-D Secure): the invoice stays open with no
        retry scheduled, so dunning waits, and the buyer is emailed the hosted invoice page to
        authenticate it on. The processor's answer settles the payment later
        (`settle_payment`): then it succeeded, or failed and dunning starts."""
        invoice.next_attempt_date = None
        invoice.updated_at = self.now
        data = {
            "payment_id": payment.id,
            "invoice_id": invoice.id,
            "amount": self._money(payment.amount),
        }
        self._event(EventType.PAYMENT_ACTION_REQUIRED, data)
        self._emit(
            EventType.PAYMENT_ACTION_REQUIRED,
            f"payment.action_required:{payment.id}",
            {**data, "invoice_number": invoice.number},
        )

    def _first_failure_date(self, invoice: Invoice) -> date:
        # When the first attempt *failed* (updated_at), not when it was made: a bank debit fails
        # days after it is initiated, and counting from its start put the retries in the past.
        first = self.session.scalar(
            select(Payment.updated_at)
            .where(Payment.invoice_id == invoice.id, Payment.status == "failed")
            .order_by(Payment.id)
            .limit(1)
        )
        return periods.local_date(first, self.account.timezone) if first else self.today

    def _dunning_exhausted(self, invoice: Invoice, *, reason: str = "payment_failed") -> None:
        """The last retry of an automatic charge failed, or a manual invoice is still unpaid
        after its last reminder (`reason` "invoice_overdue"): the account's final action."""
        account, sub = self.account, self.sub
        if account.dunning_invoice_action == "mark_uncollectible":
            invoice.status = "uncollectible"
            invoice.updated_at = self.now
        action = account.dunning_final_action
        self._event(
            EventType.DUNNING_EXHAUSTED,
            {"invoice_id": invoice.id, "action": action, "reason": reason},
        )
        if action == "cancel":
            sub.canceled_at = self.now
            sub.next_payment_date = None
            self._stop_collecting()
            self._set_status(SubscriptionStatus.CANCELED, reason)
            self._emit(
                EventType.SUBSCRIPTION_CANCELED,
                f"canceled:{sub.id}",
                {"canceled_on": self.today.isoformat(), "reason": reason},
            )
        elif action == "pause":
            sub.paused_at = self.now
            self._set_status(SubscriptionStatus.PAUSED, reason)
        else:
            self._set_status(SubscriptionStatus.UNPAID, reason)

    def _still_past_due(self) -> bool:
        """Whether an open invoice keeps the subscription past due: one being retried, or one
        whose due date has passed. Paying last month's invoice late makes a subscription
        active again even while this month's (manual) invoice is open but not yet due."""
        return any(
            invoice.next_attempt_date is not None or invoice.due_date < self.today
            for invoice in self._open_invoices()
        )

    def _open_invoices(self) -> list[Invoice]:
        return list(
            self.session.scalars(
                select(Invoice)
                .where(Invoice.subscription_id == self.sub.id, Invoice.status == "open")
                .order_by(Invoice.id)
            )
        )

    def _retry(self, invoice_id: str) -> None:
        invoice = self.session.get(Invoice, invoice_id)
        assert invoice is not None
        if self.charge(invoice) is None:
            # No saved payment method to retry with (a manual invoice the buyer tried to pay by
            # hand): drop the retry, or this step would be "due" forever and the run never settle.
            invoice.next_attempt_date = None
            invoice.updated_at = self.now

    def _settle_bank_debits(self, payment_ids: Sequence[str]) -> None:
        for payment_id in payment_ids:
            payment = self.session.get(Payment, payment_id)
            assert payment is not None
            method = (
                self.session.get(PaymentMethod, payment.payment_method_id)
                if payment.payment_method_id
                else None
            )
            status, reason = (
                processor.bank_debit_outcome(
                    self.account, method, reference=payment.processor_reference
                )
                if method
                else ("failed", "payment_method_missing")
            )
            self._settle(payment, status, reason)

    def _settle(self, payment: Payment, status: str, reason: str | None) -> None:
        """A payment that was processing (a bank debit) or waiting for the buyer (3-D Secure)
        ended: the invoice is paid, or the failure starts dunning."""
        payment.status = status
        payment.failure_reason = reason
        payment.updated_at = self.now
        invoice = self.session.get(Invoice, payment.invoice_id) if payment.invoice_id else None
        self.sub.last_payment_status = status
        if invoice is not None and status == "succeeded":
            self._payment_succeeded(invoice, payment)
        elif invoice is not None:
            self._payment_failed(invoice, payment)

    def _overdue(self, invoice_ids: Sequence[str]) -> None:
        """Manual invoices past their due date make the subscription unpaid; each overdue
        invoice is announced once."""
        for invoice_id in invoice_ids:
            invoice = self.session.get(Invoice, invoice_id)
            assert invoice is not None
            self._emit(
                EventType.INVOICE_OVERDUE,
                f"invoice.overdue:{invoice.id}",
                {
                    "invoice_id": invoice.id,
                    "number": invoice.number,
                    "amount_due": self._money(invoice.amount_due),
                    "due_date": invoice.due_date.isoformat(),
                },
            )
        self._set_status(SubscriptionStatus.UNPAID, "invoice_overdue")

    def _announced_overdue(self, invoice_ids: Sequence[str]) -> frozenset[str]:
        """Which of the overdue invoices were announced already (their outbox row exists)."""
        keys = {
            f"{self.account.id}:invoice.overdue:{invoice_id}": invoice_id
            for invoice_id in invoice_ids
        }
        found = self.session.scalars(
            select(OutboxMessage.dedup_key).where(OutboxMessage.dedup_key.in_(keys))
        )
        return frozenset(keys[key] for key in found)

    def _dunning_done(self) -> frozenset[str]:
        """The invoices whose final dunning action was already taken. An invoice left open on a
        subscription left unpaid looks the same before and after it, so the timeline entry it
        writes is what keeps it to once."""
        done = self.session.scalars(
            select(SubscriptionEvent.data).where(
                SubscriptionEvent.subscription_id == self.sub.id,
                SubscriptionEvent.type == EventType.DUNNING_EXHAUSTED,
            )
        )
        return frozenset(str(data.get("invoice_id")) for data in done)

    # --- reminders and the next wake-up ------------------------------------------------------

    def _reminders(self) -> None:
        sub = self.sub
        days = self.account.renewal_reminder_days
        if (
            days
            and sub.status == SubscriptionStatus.ACTIVE
            and sub.next_payment_date
            and sub.invoice_creation
            # A cancellation on or before the next payment date (a commitment end, say) means
            # that payment never comes: no reminder of it.
            and (sub.cancel_at is None or sub.cancel_at > sub.next_payment_date)
        ):
            remind_on = periods.add_days(sub.next_payment_date, -days)
            if (
                remind_on <= self.today < sub.next_payment_date
                and sub.created_at < periods.start_of_day_utc(remind_on, self.account.timezone)
            ):
                self._emit(
                    EventType.SUBSCRIPTION_RENEWAL_REMINDER,
                    f"reminder:{sub.id}:{sub.next_payment_date.isoformat()}",
                    {
                        "next_payment_date": sub.next_payment_date.isoformat(),
                        "amount": self._money(sub.recurring_amount),
                    },
                )
        # No "trial will end" notice (of a charge to come) when the trial is canceled at its end.
        if (
            sub.status == SubscriptionStatus.TRIALING
            and sub.trial_end
            and (sub.cancel_at is None or sub.cancel_at > sub.trial_end)
        ):
            notice_on = periods.add_days(sub.trial_end, -planner.TRIAL_ENDING_NOTICE_DAYS)
            if notice_on <= self.today < sub.trial_end:
                self._emit(
                    EventType.SUBSCRIPTION_TRIAL_WILL_END,
                    f"trial_will_end:{sub.id}",
                    {"trial_end": sub.trial_end.isoformat()},
                )

    def _schedule_next(self) -> None:
        """Store when the engine next has work for this subscription."""
        sub = self.sub
        before = sub.next_action_at
        refresh_derived(self.session, sub, self.account)  # amounts and MRR
        sub.next_action_at = planner.wake_at(
            sub, self.account, self.today, self._processing_payments(), self._open_invoices()
        )
        if sub.next_action_at != before:
            self.changed = True


def attempt_key(
    invoice_id: str, subscription_id: str | None, period_start: date | None, attempt: int
) -> str:
    """The idempotency key of an invoice's charge attempt, sent to the processor with it.

    A subscription's period invoice is keyed by what identifies it for good, the subscription
    and the period (UNIQUE on invoices), not by its ID: when a charge's answer never comes (a
    timeout) or a later step fails, the run is rolled back with the invoice, and the next run
    issues the invoice again under a new ID. Keyed by the period, its charge goes out with the
    same key, and the processor answers the first charge instead of making a second. Other
    invoices exist before they are charged, so their ID stays."""
    if subscription_id and period_start:
        return f"{subscription_id}:{period_start.isoformat()}:attempt:{attempt}"
    return f"{invoice_id}:attempt:{attempt}"


def settle_payment(
    session: Session,
    account: Account,
    payment: Payment,
    status: str,
    failure_reason: str | None,
    now: datetime,
) -> bool:
    """The processor told how a payment it answered "processing" (a bank debit) or "requires
    action" (3-D Secure) ended, e.g. by its webhook: applied exactly as a sandbox bank debit
    settling is, so the invoice, the subscription, receipts, dunning and events follow the same
    way. Returns whether anything changed (a payment settled already is left alone)."""
    if payment.status not in ("processing", processor.REQUIRES_ACTION):
        return False
    subscription = (
        session.get(Subscription, payment.subscription_id) if payment.subscription_id else None
    )
    if subscription is None:
        payment.status = status
        payment.failure_reason = failure_reason
        payment.updated_at = now
        invoice = session.get(Invoice, payment.invoice_id) if payment.invoice_id else None
        if invoice is not None and status == "succeeded" and invoice.status == "open":
            invoicing.mark_paid(invoice, payment.amount, now)
        return True
    session.refresh(subscription, attribute_names=["line_items"])
    run = SubscriptionRun(session, account, subscription, now)
    run._settle(payment, status, failure_reason)
    run.run()
    return True


def create_charge(
    session: Session,
    account: Account,
    invoice: Invoice,
    method: PaymentMethod,
    now: datetime,
    result: processor.ChargeResult | None = None,
) -> Payment:
    """Charge what an invoice still owes, as its next attempt. The idempotency key is derived from
    the invoice and the attempt number: a repeated call finds the earlier attempt instead of
    charging again."""
    attempt = invoice.attempt_count + 1
    key = attempt_key(invoice.id, invoice.subscription_id, invoice.cycle_period_start, attempt)
    existing = session.scalar(select(Payment).where(Payment.idempotency_key == key))
    if existing is not None and existing.invoice_id != invoice.id:
        # An earlier invoice of the same period (its cycle restarted by a change of billing
        # frequency) holds this key: this invoice's attempts are keyed by its own ID.
        key = f"{invoice.id}:attempt:{attempt}"
        existing = session.scalar(select(Payment).where(Payment.idempotency_key == key))
    if existing is not None:
        return existing
    if result is None:
        result = processor.charge(account, method, invoice.amount_due, invoice.currency, key)
    today = periods.local_date(now, account.timezone)
    payment = Payment(
        id=new_id("pay"),
        account_id=account.id,
        invoice_id=invoice.id,
        subscription_id=invoice.subscription_id,
        contact_id=invoice.contact_id,
        payment_method_id=method.id,
        status=result.status,
        amount=invoice.amount_due,
        refunded_amount=0,
        currency=invoice.currency,
        failure_reason=result.failure_reason,
        processor=method.processor,
        processor_reference=result.reference,
        idempotency_key=key,
        settles_on=periods.add_days(today, result.settles_in_days)
        if result.settles_in_days
        else None,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    invoice.attempt_count = attempt
    invoice.updated_at = now
    return payment


def pay_invoice(
    session: Session, account: Account, invoice: Invoice, method: PaymentMethod, now: datetime
) -> Payment:
    """Charge an open invoice now (POST /invoices/{id}/pay). A subscription's invoice goes
    through its run, so a recovered payment reactivates it and billing catches up."""
    subscription = (
        session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    )
    if subscription is None:
        payment = create_charge(session, account, invoice, method, now)
        if payment.status == "succeeded":
            invoicing.mark_paid(invoice, payment.amount, now)
        return payment
    session.refresh(subscription, attribute_names=["line_items"])
    run = SubscriptionRun(session, account, subscription, now)
    charged = run.charge(invoice, method)
    assert charged is not None  # a method was given
    run.run()
    return charged


def record_offline_payment(
    session: Session,
    account: Account,
    invoice: Invoice,
    *,
    reference: str | None,
    paid_at: datetime,
    now: datetime,
) -> Payment:
    """Record money the merchant received outside any processor (bank transfer, cash, cheque)
    for all an open invoice owes. Nothing is charged; the payment is then applied exactly as a
    succeeded charge is, so the subscription recovers and the receipt goes out the same way."""
    payment = Payment(
        id=new_id("pay"),
        account_id=account.id,
        invoice_id=invoice.id,
        subscription_id=invoice.subscription_id,
        contact_id=invoice.contact_id,
        payment_method_id=None,
        status="succeeded",
        amount=invoice.amount_due,
        refunded_amount=0,
        currency=invoice.currency,
        failure_reason=None,
        processor=processor.OUT_OF_BAND,
        processor_reference=reference,
        # An invoice is paid in full once: a second recording (a double click, a race) hits
        # the unique key instead of counting the money twice.
        idempotency_key=f"{invoice.id}:{processor.OUT_OF_BAND}",
        settles_on=None,
        # When the money came in, not when it was typed in: the receipt dates the payment by
        # updated_at (as a bank debit is dated by the day it settled).
        created_at=paid_at,
        updated_at=paid_at,
    )
    session.add(payment)
    subscription = (
        session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    )
    if subscription is None:
        invoicing.mark_paid(invoice, payment.amount, paid_at)
        return payment
    session.refresh(subscription, attribute_names=["line_items"])
    run = SubscriptionRun(session, account, subscription, now)
    run._payment_succeeded(invoice, payment, paid_at=paid_at)
    run.run()
    return payment


def invoice_settled(session: Session, account: Account, invoice: Invoice, now: datetime) -> None:
    """An invoice was voided or written off by hand: a subscription waiting on it is no longer
    past due, and its billing catches up."""
    subscription = (
        session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    )
    if subscription is None:
        return
    session.flush()
    session.refresh(subscription, attribute_names=["line_items"])
    run = SubscriptionRun(session, account, subscription, now)
    if subscription.status == SubscriptionStatus.UNPAID and not run._still_past_due():
        run._set_status(SubscriptionStatus.ACTIVE, f"invoice_{invoice.status}")
    run.run()


def resume_now(
    session: Session, account: Account, subscription: Subscription, now: datetime
) -> None:
    """A paused subscription resumes by hand: active again (announced like any status change),
    and today's new period is billed."""
    session.refresh(subscription, attribute_names=["line_items"])
    run = SubscriptionRun(session, account, subscription, now)
    run._set_status(SubscriptionStatus.ACTIVE, "resumed")
    run.run()


def process(session: Session, account: Account, subscription: Subscription, now: datetime) -> bool:
    """Bring one subscription up to `now`; returns whether anything was written."""
    session.refresh(subscription, attribute_names=["line_items"])
    return SubscriptionRun(session, account, subscription, now).run()
