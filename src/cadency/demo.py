"""Demo data: the coffee shop from the subscription help articles (`cadency demo`).

The demo account is a test-mode account whose clock is set back 14 months; the shop's story
is then played forward on that clock, the billing engine running everything due on the way
(the test clock's own advance). So the history is the product's own: renewals, receipts and
reminders, a card that started declining, refunds, a plan change, a fixed term that ran out,
invoices paid by bank transfer and one that is overdue. Every tab, chart and email has
something to show, and nothing is written that the product would not have written itself.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.accounts import service as accounts
from cadency.accounts.models import Account, User
from cadency.billing.runner import ClockAdvance
from cadency.catalog import service as catalog
from cadency.catalog.line_items import LineItemInput
from cadency.catalog.schemas import ProductCreate
from cadency.checkout import service as checkout
from cadency.checkout.schemas import CheckoutRequest, PaymentLinkCreate
from cadency.crm import service as crm
from cadency.crm.models import Contact
from cadency.crm.schemas import CompanyCreate, ContactCreate, DealCreate, QuoteCreate
from cadency.invoices import service as invoices
from cadency.invoices.models import Invoice
from cadency.kit import clock, periods
from cadency.kit.terms import CollectionMethod
from cadency.payments import service as payments
from cadency.payments.models import Payment, PaymentMethod
from cadency.payments.schemas import PaymentMethodCreate
from cadency.subscriptions import service as subscriptions
from cadency.subscriptions.models import Subscription
from cadency.subscriptions.schemas import CancelRequest, ChangeRequest, SubscriptionCreate
from cadency.workflows import service as workflows
from cadency.workflows.schemas import WorkflowCreate

PRODUCTS = [
    ("Just one more cup - 1 KG", "25.00", "monthly"),
    ("Coffee is my fuel - 500g", "18.00", "biweekly"),
    ("Coffee casual - 250g", "12.50", "monthly"),
    ("Office beans - 5 KG", "95.00", "monthly"),
    ("Roaster's choice - yearly", "240.00", "annually"),
    ("Hand grinder", "45.00", None),
]
# The three the help articles name, by index into PRODUCTS.
ONE_KG, FUEL, CASUAL, OFFICE, YEARLY, GRINDER = range(6)
CONTACTS = [
    ("emma.jansen@example.com", "Emma", "Jansen"),
    ("lars.nielsen@example.com", "Lars", "Nielsen"),
    ("sofia.garcia@example.com", "Sofia", "Garcia"),
    ("noah.bakker@example.com", "Noah", "Bakker"),
    ("freja.hansen@example.com", "Freja", "Hansen"),
    ("daan.visser@example.com", "Daan", "Visser"),
    ("olivia.smith@example.com", "Olivia", "Smith"),
    ("mads.pedersen@example.com", "Mads", "Pedersen"),
    ("sanne.dekker@example.com", "Sanne", "Dekker"),
    ("liam.murphy@example.com", "Liam", "Murphy"),
    ("ida.christensen@example.com", "Ida", "Christensen"),
    ("bram.smit@example.com", "Bram", "Smit"),
    ("chloe.martin@example.com", "Chloé", "Martin"),
    ("oscar.larsen@example.com", "Oscar", "Larsen"),
    ("julia.meijer@example.com", "Julia", "Meijer"),
    ("ethan.brown@example.com", "Ethan", "Brown"),
    ("anna.jorgensen@example.com", "Anna", "Jørgensen"),
    ("thijs.mulder@example.com", "Thijs", "Mulder"),
    ("mia.rossi@example.com", "Mia", "Rossi"),
    ("victor.nielsen@example.com", "Victor", "Nielsen"),
    ("lotte.bos@example.com", "Lotte", "Bos"),
    ("jack.wilson@example.com", "Jack", "Wilson"),
    ("karla.madsen@example.com", "Karla", "Madsen"),
    ("ruben.vos@example.com", "Ruben", "Vos"),
    ("hannah.weber@example.com", "Hannah", "Weber"),
    ("william.olsen@example.com", "William", "Olsen"),
    ("fleur.peters@example.com", "Fleur", "Peters"),
    ("lucas.moreau@example.com", "Lucas", "Moreau"),
    ("nina.kok@example.com", "Nina", "Kok"),
    ("emil.berg@example.com", "Emil", "Berg"),
    ("grace.taylor@example.com", "Grace", "Taylor"),
    ("jesper.lund@example.com", "Jesper", "Lund"),
]
# Offices buying by invoice: (company, domain, contact's email, first name, last name).
COMPANIES = [
    ("Bakker & Co", "bakker.example.com", "finance@bakker.example.com", "Eva", "Bakker"),
    ("Nordlys ApS", "nordlys.example.com", "regnskab@nordlys.example.com", "Sune", "Holm"),
    (
        "De Koffiehoek",
        "koffiehoek.example.com",
        "boekhouding@koffiehoek.example.com",
        "Kim",
        "Post",
    ),
]

GOOD_CARD = "4242424242424242"
DECLINING_CARD = "4000000000000341"  # the sandbox's card that attaches and then always fails
HISTORY_MONTHS = 14
DEMO_ACCOUNT_NAME = "Cadency Coffee (demo)"


def load_demo(session: Session, *, email: str, password: str) -> dict[str, Any]:
    """Create a test-mode account with 14 months of the coffee shop's history.

    Run again, it keeps the demo account it made before and hands out a fresh API key for it.
    The story's clock advances commit as they go (as the test clock's advance does), so the
    caller's session is committed when this returns.
    """
    existing = session.scalar(
        select(Account).where(Account.name == DEMO_ACCOUNT_NAME).order_by(Account.id).limit(1)
    )
    if existing is not None:
        _key, api_key = accounts.create_api_key(
            session, existing, name="Demo key", scopes=["super_admin"], created_by="cli"
        )
        owner = session.scalar(
            select(User).where(User.account_id == existing.id).order_by(User.id).limit(1)
        )
        return {
            "account_id": existing.id,
            "api_key": api_key,
            "user_id": owner.id if owner else None,
            "login": {"email": owner.email if owner else email, "password": "(unchanged)"},
        }
    account, api_key = accounts.create_account(
        session, name=DEMO_ACCOUNT_NAME, timezone="Europe/Amsterdam", currency="USD"
    )
    user = accounts.create_user(session, account, email=email, password=password)
    _Story(session, account, user).play()
    return {
        "account_id": account.id,
        "api_key": api_key,
        "user_id": user.id,
        "login": {"email": email, "password": password},
    }


class _Story:
    """The shop's 14 months, told on the account's test clock."""

    def __init__(self, session: Session, account: Account, user: User) -> None:
        self.session, self.account, self.user = session, account, user
        self.today = clock.account_today(account)  # where the story ends: the real today
        self.first_day = periods.add_months(self.today, -HISTORY_MONTHS)
        # Invoices a company pays by bank transfer some days after they are sent.
        self.paying_by_transfer: list[str] = []

    # --- the clock --------------------------------------------------------------------------

    def at(self, day: date) -> None:
        """Move the story to 10:00 on `day` (account time), running everything due on the way,
        as the test clock's advance does; then the companies pay what they were sent."""
        step = clock.account_today(self.account)
        while step < day:
            # A week at a time, so transfers arrive before their invoices fall overdue.
            step = min(periods.add_days(step, 7), day)
            instant = min(
                periods.start_of_day_utc(step, self.account.timezone) + timedelta(hours=10),
                clock.real_now(),
            )
            if instant > clock.account_now(self.account):
                ClockAdvance(self.session, self.account, instant).run()
            clock.stop_clock_at(self.account, instant)
            self._pay_transfers(step)

    def _pay_transfers(self, day: date) -> None:
        if not self.paying_by_transfer:
            return
        sent = self.session.scalars(
            select(Invoice)
            .where(
                Invoice.subscription_id.in_(self.paying_by_transfer),
                Invoice.status == "open",
            )
            .order_by(Invoice.id)
        ).all()
        for invoice in sent:
            # Ten days after the invoice date, the transfer arrives.
            if periods.add_days(invoice.issue_date, 10) <= day:
                invoices.record_offline_payment(
                    self.session,
                    self.account,
                    invoice.id,
                    reference=f"Bank transfer {invoice.number}",
                    paid_at=clock.account_now(self.account),
                )

    def days_ago(self, days: int) -> date:
        return periods.add_days(self.today, -days)

    def day(self, days: int) -> date:
        return periods.add_days(self.first_day, days)

    # --- the cast ---------------------------------------------------------------------------

    def play(self) -> None:
        session, account = self.session, self.account
        # The shop opened 14 months ago: its clock starts there, standing still while the
        # story is written, and runs on with real time once the story has reached today.
        clock.stop_clock_at(account, periods.start_of_day_utc(self.first_day, account.timezone))
        self.products = [
            catalog.create_product(
                session,
                account,
                ProductCreate(
                    name=name, unit_price=price, currency="USD", billing_frequency=frequency
                ),
            )
            for name, price, frequency in PRODUCTS
        ]
        self.contacts = [
            crm.create_contact(
                session, account, ContactCreate(email=address, first_name=first, last_name=last)
            )
            for address, first, last in CONTACTS
        ]
        self.cards = [self.card(contact, GOOD_CARD) for contact in self.contacts]
        self.opening_months()
        self.the_year()
        self.recent_weeks()
        # The story is told: the clock catches up with real time and runs on with it.
        self.at(self.today)
        now = clock.real_now()
        ClockAdvance(session, account, now).run()
        clock.set_clock(account, now)
        # The seeds' workflows are switched on today, and act on what happens from now on:
        # not on 14 months of subscribers at once.
        _seed_workflows(session, account, self.user)
        session.flush()

    def card(self, contact: Contact, number: str) -> PaymentMethod:
        return payments.attach_payment_method(
            self.session,
            self.account,
            contact.id,
            PaymentMethodCreate.model_validate(
                {
                    "type": "card",
                    "card": {
                        "number": number,
                        "exp_month": 12,
                        "exp_year": self.today.year + 3,
                        "cvc": "123",
                    },
                }
            ),
        )

    def subscribe(self, who: int, product: int, **extra: Any) -> Subscription:
        """A card-paid subscription of contact `who` to one product, starting now."""
        item: dict[str, Any] = {"product_id": self.products[product].id}
        if "quantity" in extra:
            item["quantity"] = extra.pop("quantity")
        if "start" in extra:
            item["billing_start_date"] = extra.pop("start").isoformat()
        if "payments" in extra:
            item["billing_terms"] = "fixed"
            item["number_of_payments"] = extra.pop("payments")
        data = SubscriptionCreate(
            contact_id=self.contacts[who].id,
            currency="USD",
            line_items=[LineItemInput.model_validate(item)],
            collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
            payment_method_id=self.cards[who].id,
            **extra,
        )
        return subscriptions.create(self.session, self.account, data, allow_custom_items=True)

    def office(self, index: int, *, terms: str, quantity: int) -> Subscription:
        """A company buying office beans by invoice, with its finance contact."""
        name, domain, address, first, last = COMPANIES[index]
        company = crm.create_company(
            self.session, self.account, CompanyCreate(name=name, domain=domain)
        )
        contact = crm.create_contact(
            self.session,
            self.account,
            ContactCreate(email=address, first_name=first, last_name=last),
        )
        data = SubscriptionCreate(
            contact_id=contact.id,
            company_id=company.id,
            currency="USD",
            line_items=[
                LineItemInput.model_validate(
                    {"product_id": self.products[OFFICE].id, "quantity": quantity}
                )
            ],
            collection_method=CollectionMethod.SEND_INVOICE,
            payment_terms=terms,
        )
        return subscriptions.create(self.session, self.account, data, allow_custom_items=True)

    def cancel(self, subscription: Subscription, mode: str, *reasons: str, **extra: Any) -> None:
        subscriptions.cancel(
            self.session,
            self.account,
            subscription.id,
            CancelRequest.model_validate({"mode": mode, "reasons": list(reasons), **extra}),
        )

    def last_payment(self, subscription: Subscription) -> Payment:
        payment = self.session.scalar(
            select(Payment)
            .join(Invoice, Invoice.id == Payment.invoice_id)
            .where(Invoice.subscription_id == subscription.id, Payment.status == "succeeded")
            .order_by(Payment.created_at.desc(), Payment.id.desc())
            .limit(1)
        )
        assert payment is not None, "the story refunds a payment that was made"
        return payment

    # --- the story --------------------------------------------------------------------------

    def opening_months(self) -> None:
        """The first regulars, a fixed six-month gift and the first goodbyes."""
        at, day = self.at, self.day
        at(day(0))
        self.emma = self.subscribe(0, ONE_KG)
        self.lars = self.subscribe(1, FUEL)
        at(day(9))
        self.sofia = self.subscribe(2, CASUAL)
        # A gift of six months of coffee: it runs out half a year later (expired).
        self.gift = self.subscribe(3, CASUAL, payments=6)
        at(day(20))
        self.freja = self.subscribe(4, FUEL)
        self.daan = self.subscribe(5, CASUAL)
        at(day(34))
        self.olivia = self.subscribe(6, YEARLY)
        self.mads = self.subscribe(7, ONE_KG)
        at(day(47))
        self.sanne = self.subscribe(8, CASUAL)
        self.liam = self.subscribe(9, FUEL, trial_days=14)
        at(day(61))
        self.ida = self.subscribe(10, ONE_KG, quantity=2)
        at(day(75))
        # Too expensive: canceled at once, with the unused part of the month refunded.
        self.cancel(self.daan, "immediately", "too_expensive", refund="prorated")
        self.bram = self.subscribe(11, CASUAL)
        at(day(90))
        self.chloe = self.subscribe(12, FUEL)
        self.oscar = self.subscribe(13, ONE_KG)
        at(day(104))
        # A bag arrived damaged: half of Emma's last payment back.
        emma_paid = self.last_payment(self.emma)
        payments.refund(self.session, self.account, emma_paid.id, "12.50")

    def the_year(self) -> None:
        at, day = self.at, self.day
        at(day(120))
        self.bakker = self.office(0, terms="net_30", quantity=2)
        self.paying_by_transfer.append(self.bakker.id)
        self.julia = self.subscribe(14, CASUAL)
        at(day(135))
        # Sofia moves up from 250 g to the kilo bag, prorated.
        subscriptions.change(
            self.session,
            self.account,
            self.sofia.id,
            ChangeRequest(
                line_items=[LineItemInput(product_id=self.products[ONE_KG].id)],
                proration="prorate",
            ),
            allow_custom_items=True,
        )
        self.ethan = self.subscribe(15, FUEL)
        at(day(150))
        # The tasting box sold through a payment link.
        self.link = checkout.create_link(
            self.session,
            self.account,
            PaymentLinkCreate(
                name="Tasting box and grinder",
                line_items=[
                    LineItemInput(product_id=self.products[CASUAL].id),
                    LineItemInput(product_id=self.products[GRINDER].id),
                ],
            ),
            allow_custom=True,
        )
        self.buy_from_link(16)
        at(day(170))
        self.thijs = self.subscribe(17, CASUAL)
        self.mia = self.subscribe(18, ONE_KG)
        at(day(185))
        self.cancel(self.chloe, "immediately", "switched_service")
        self.victor = self.subscribe(19, YEARLY)
        at(day(200))
        # Lotte's card starts declining; the retries run out and dunning cancels.
        self.lotte = self.subscribe(20, CASUAL)
        at(day(215))
        self.decline(20, self.lotte)
        self.jack = self.subscribe(21, FUEL)
        at(day(240))
        self.nordlys = self.office(1, terms="net_30", quantity=1)
        self.paying_by_transfer.append(self.nordlys.id)
        self.cancel(self.bram, "immediately", "unused", "too_expensive")
        at(day(265))
        self.karla = self.subscribe(22, ONE_KG)
        self.buy_from_link(23)
        at(day(290))
        self.hannah = self.subscribe(24, CASUAL)
        self.cancel(self.ethan, "immediately", "missing_features", "too_complex", refund="prorated")
        at(day(315))
        self.nina = self.subscribe(28, ONE_KG)
        self.emil = self.subscribe(29, FUEL)
        at(day(340))
        self.grace = self.subscribe(30, CASUAL, quantity=2)
        self.jesper = self.subscribe(31, YEARLY)

    def recent_weeks(self) -> None:
        at, days_ago = self.at, self.days_ago
        at(days_ago(70))
        self.william = self.subscribe(25, FUEL)
        at(days_ago(55))
        # Chloé comes back for the kilo bag; Lars adds a second, smaller bag.
        self.subscribe(12, ONE_KG)
        self.subscribe(1, CASUAL)
        at(days_ago(45))
        self.subscribe(9, OFFICE)
        # Fleur's renewal three days ago failed: unpaid, with retries still to come.
        at(periods.add_months(days_ago(3), -1))
        self.fleur = self.subscribe(26, CASUAL)
        at(days_ago(28))
        self.decline(26, self.fleur)
        # Paused for the holidays, no date to resume yet.
        subscriptions.pause(self.session, self.account, self.freja.id, None)
        at(days_ago(18))
        # A new office on 14 days' terms that has not paid: overdue, reminders going out.
        self.koffiehoek = self.office(2, terms="net_14", quantity=3)
        at(days_ago(12))
        # Leaving at the end of the period they paid for (canceling).
        self.cancel(self.mads, "at_period_end", "too_expensive")
        self.deal_and_quote()
        at(days_ago(5))
        self.lucas = self.subscribe(27, ONE_KG, trial_days=14)  # trialing
        at(days_ago(2))
        # Starts next week (scheduled).
        self.subscribe(0, FUEL, start=periods.add_days(self.today, 8))
        # A fresh invoice to Bakker & Co, not yet due (open).
        self.bakker_extra = self.office_extra()

    def office_extra(self) -> Subscription:
        """Bakker & Co add a yearly roaster's choice, invoiced on 30 days' terms."""
        subscription = subscriptions.create(
            self.session,
            self.account,
            SubscriptionCreate(
                contact_id=self.bakker.contact_id,
                company_id=self.bakker.company_id,
                currency="USD",
                line_items=[LineItemInput(product_id=self.products[YEARLY].id)],
                collection_method=CollectionMethod.SEND_INVOICE,
                payment_terms="net_30",
            ),
            allow_custom_items=True,
        )
        return subscription

    def decline(self, who: int, subscription: Subscription) -> None:
        """The contact's card is replaced by one that declines every charge."""
        declining = self.card(self.contacts[who], DECLINING_CARD)
        subscriptions.update(
            self.session, self.account, subscription.id, {"payment_method_id": declining.id}
        )

    def buy_from_link(self, who: int) -> None:
        contact = self.contacts[who]
        checkout.checkout(
            self.session,
            self.account,
            self.link.id,
            CheckoutRequest.model_validate(
                {
                    "contact": {
                        "email": contact.email,
                        "first_name": contact.first_name,
                        "last_name": contact.last_name,
                    },
                    "payment_method": {
                        "type": "card",
                        "card": {
                            "number": GOOD_CARD,
                            "exp_month": 12,
                            "exp_year": self.today.year + 3,
                            "cvc": "123",
                        },
                    },
                }
            ),
        )

    def deal_and_quote(self) -> None:
        """A café weighing a bigger order: a deal with a quote out for signature."""
        company = crm.create_company(
            self.session,
            self.account,
            CompanyCreate(name="Café Lindholm", domain="lindholm.example.com"),
        )
        contact = crm.create_contact(
            self.session,
            self.account,
            ContactCreate(email="ole@lindholm.example.com", first_name="Ole", last_name="Lindholm"),
        )
        deal = crm.create_deal(
            self.session,
            self.account,
            DealCreate(
                name="Café Lindholm - house blend",
                stage="presentation_scheduled",
                contact_id=contact.id,
                company_id=company.id,
                line_items=[
                    LineItemInput(product_id=self.products[OFFICE].id, quantity=4),
                    LineItemInput(product_id=self.products[GRINDER].id, quantity=2),
                ],
            ),
            allow_custom=True,
        )
        quote = crm.create_quote(
            self.session,
            self.account,
            QuoteCreate(
                name="House blend for Café Lindholm",
                deal_id=deal.id,
                expires_on=periods.add_days(self.today, 30).isoformat(),
            ),
            allow_custom=True,
        )
        crm.publish_quote(self.session, self.account, quote.id)


def _seed_workflows(session: Session, account: Account, user: User) -> None:
    """The seeds' three workflows: the team told 7 days before a payment is due, an owner for
    an expired subscription, and a welcome email for a new one."""
    seeds: list[dict[str, Any]] = [
        {
            "name": "Tell the team 7 days before a payment is due",
            "trigger": {"type": "payment_due_in", "days": 7},
            "re_enroll": True,
            "actions": [
                {
                    "type": "send_internal_email",
                    "to": "super_admins",
                    "subject": "{{ subscription.name }}: payment due on "
                    "{{ subscription.next_payment_date }}",
                    "body": "{{ contact.name }} ({{ contact.email }}) pays "
                    "{{ subscription.next_payment_amount }} on "
                    "{{ subscription.next_payment_date }}.",
                }
            ],
        },
        {
            "name": "Give an expired subscription an owner",
            "trigger": {"type": "subscription.status_changed", "status": "expired"},
            "actions": [
                {"type": "set_property", "property": "owner_id", "value": user.email},
                {
                    "type": "send_internal_email",
                    "to": "owner",
                    "subject": "{{ subscription.name }} has expired",
                    "body": "{{ contact.name }}'s subscription ended. Time to win them back?",
                },
            ],
        },
        {
            "name": "Welcome a new subscriber",
            "trigger": {"type": "subscription.created"},
            "actions": [
                {
                    "type": "send_email",
                    "subject": "Welcome to {{ account.name }}, {{ contact.first_name }}",
                    "body": "Thank you for subscribing to {{ subscription.name }}.\n\n"
                    "Your next payment is on {{ subscription.next_payment_date }}.",
                }
            ],
        },
    ]
    for seed in seeds:
        workflows.create_workflow(
            session,
            account,
            WorkflowCreate.model_validate({**seed, "enabled": True}),
            allow_private=False,
        )
