"""Demo data: the coffee shop from the subscription help articles (`cadency demo`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cadency.accounts import service as accounts
from cadency.accounts.models import Account, User
from cadency.catalog import service as catalog
from cadency.catalog.line_items import LineItemInput
from cadency.catalog.schemas import ProductCreate
from cadency.crm import service as crm
from cadency.crm.schemas import ContactCreate
from cadency.kit import clock, periods
from cadency.kit.terms import CollectionMethod
from cadency.payments import service as payments
from cadency.payments.schemas import PaymentMethodCreate
from cadency.subscriptions import service as subscriptions
from cadency.subscriptions.schemas import CancelRequest, SubscriptionCreate
from cadency.workflows import service as workflows
from cadency.workflows.schemas import WorkflowCreate

PRODUCTS = [
    ("Just one more cup - 1 KG", "25.00", "monthly"),
    ("Coffee is my fuel - 500g", "18.00", "biweekly"),
    ("Coffee casual - 250g", "12.50", "monthly"),
]
CONTACTS = [
    ("emma.jansen@example.com", "Emma", "Jansen"),
    ("lars.nielsen@example.com", "Lars", "Nielsen"),
    ("sofia.garcia@example.com", "Sofia", "Garcia"),
    ("noah.bakker@example.com", "Noah", "Bakker"),
]


DEMO_ACCOUNT_NAME = "Cadency Coffee (demo)"


def load_demo(session: Session, *, email: str, password: str) -> dict[str, Any]:
    """Create a test-mode account with products, contacts and a handful of subscriptions.

    Run again, it keeps the demo account it made before and hands out a fresh API key for it.
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
    products = [
        catalog.create_product(
            session,
            account,
            ProductCreate(name=name, unit_price=price, currency="USD", billing_frequency=frequency),
        )
        for name, price, frequency in PRODUCTS
    ]
    contacts = [
        crm.create_contact(
            session, account, ContactCreate(email=address, first_name=first, last_name=last)
        )
        for address, first, last in CONTACTS
    ]
    cards = [
        payments.attach_payment_method(
            session,
            account,
            contact.id,
            PaymentMethodCreate.model_validate(
                {
                    "type": "card",
                    "card": {
                        "number": "4242424242424242",
                        "exp_month": 12,
                        "exp_year": clock.account_today(account).year + 3,
                        "cvc": "123",
                    },
                }
            ),
        )
        for contact in contacts
    ]
    today = clock.account_today(account)

    def subscribe(contact_index: int, product_index: int, **extra: Any) -> Any:
        item: dict[str, Any] = {"product_id": products[product_index].id}
        if "start" in extra:
            item["billing_start_date"] = extra.pop("start").isoformat()
        if "payments" in extra:
            item["billing_terms"] = "fixed"
            item["number_of_payments"] = extra.pop("payments")
        data = SubscriptionCreate(
            contact_id=contacts[contact_index].id,
            currency="USD",
            line_items=[LineItemInput.model_validate(item)],
            collection_method=CollectionMethod.CHARGE_AUTOMATICALLY,
            payment_method_id=cards[contact_index].id,
            **extra,
        )
        return subscriptions.create(session, account, data, allow_custom_items=True)

    _seed_workflows(session, account, user)
    subscribe(0, 0)
    subscribe(1, 1, payments=12)
    subscribe(2, 2, trial_days=14)
    subscribe(3, 0, start=periods.add_days(today, 10))
    canceled = subscribe(3, 2)
    subscriptions.cancel(
        session, account, canceled.id, CancelRequest(mode="immediately", reason="too_expensive")
    )
    return {
        "account_id": account.id,
        "api_key": api_key,
        "user_id": user.id,
        "login": {"email": email, "password": password},
    }


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
