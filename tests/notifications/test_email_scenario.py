"""Months of simulated time through a real SMTP server: each email of SPEC §5 and §6 arrives
once, to the right people, in the reader's language, with the right amounts and dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select

from cadency.accounts import service as account_service
from cadency.accounts.models import Account, User
from cadency.notifications.models import EmailDelivery
from cadency.subscriptions import service as subscription_service
from tests.notifications.conftest import (
    BASE_URL,
    Received,
    SmtpServer,
    add_user,
    deliver,
    deliveries,
)
from tests.scenarios.story import Story

BOSS, CHEF, BOOKS, VIEWER = (
    "boss@shop.test",
    "chef@shop.test",
    "books@shop.test",
    "viewer@shop.test",
)
ANNA, BERND, CARL, DORTE, EVE, FIONA = (
    "anna@buyer.test",
    "bernd@buyer.test",
    "carl@buyer.test",
    "dorte@buyer.test",
    "eve@buyer.test",
    "fiona@buyer.test",
)
DECLINING_CARD = "4000000000000341"


def arrived(received: list[Received]) -> list[tuple[str, str, str]]:
    """(kind, recipient, language) of each email, sorted (one step's order is not the point)."""
    for mail in received:
        assert len(mail.to) == 1 and mail.to == [str(mail.message["To"])]
    return sorted((str(m.message["X-Cadency-Email"]), m.to[0], m.language) for m in received)


def one(received: list[Received], kind: str, to: str) -> Received:
    found = [m for m in received if m.message["X-Cadency-Email"] == kind and m.to == [to]]
    assert len(found) == 1, [(m.message["X-Cadency-Email"], m.to) for m in received]
    return found[0]


def step(session_factory: Any, account_id: int, smtp: SmtpServer) -> list[Received]:
    summary = deliver(session_factory, account_id, smtp.url)
    assert summary.errors == [] and summary.failed == 0 and summary.retrying == 0
    return smtp.inbox.take()


def test_a_subscription_life_in_four_languages(
    client: Any, session_factory: Any, smtp_server: SmtpServer
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    account_id = story.api.account_id
    add_user(session_factory, account_id, BOSS)
    chef_id = add_user(session_factory, account_id, CHEF, language="da")
    add_user(session_factory, account_id, BOOKS, ("billing.edit", "subscriptions.view"))
    add_user(session_factory, account_id, VIEWER, ("subscriptions.view",))

    anna = story.subscribe(price="30.00", email=ANNA, invoice_settings={"language": "nl"})
    bernd = story.subscribe(
        price="12.50", email=BERND, card=DECLINING_CARD, invoice_settings={"language": "de"}
    )
    story.subscribe(
        price="100.00", email=CARL, collection_method="send_invoice", payment_terms="net_15"
    )
    dorte = story.subscribe(
        price="40.00", email=DORTE, commitment_months=6, invoice_settings={"language": "da"}
    )
    story.subscribe(price="20.00", email=EVE, trial_days=14)
    story.subscribe(
        price="15.00", email=FIONA, item={"billing_terms": "fixed", "number_of_payments": 2}
    )

    # --- March 1st: first payments, a declined card, a sent invoice --------------------------
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == sorted(
        [
            ("receipt", ANNA, "nl"),
            ("admin_payment", BOSS, "en"),
            ("admin_payment", CHEF, "da"),
            ("payment_failed", BERND, "de"),
            ("admin_payment", BOSS, "en"),
            ("admin_payment", CHEF, "da"),
            ("invoice_issued", CARL, "en"),
            ("receipt", DORTE, "da"),
            ("admin_payment", BOSS, "en"),
            ("admin_payment", CHEF, "da"),
            ("receipt", FIONA, "en"),
            ("admin_payment", BOSS, "en"),
            ("admin_payment", CHEF, "da"),
        ]
    )
    receipt = one(received, "receipt", ANNA)
    assert receipt.subject == "Je betalingsbewijs van Test shop"
    assert "Bedankt voor je betaling van US$ 30,00 op 1 mrt 2026." in receipt.text
    assert "van 1 mrt 2026 tot 1 apr 2026" in receipt.text
    assert '<p style="margin:0 0 14px;">Bedankt voor je betaling van US$ 30,00' in receipt.html
    failed = one(received, "payment_failed", BERND)
    assert failed.subject == "Ihre Zahlung an Test shop ist fehlgeschlagen"
    assert "12,50 $" in failed.text and "04.03.2026" in failed.text
    assert f"{BASE_URL}/billing/update-payment-method/" in failed.text
    # The link opens the buyer's update-payment-method page.
    link_path = failed.text.split(BASE_URL, 1)[1].split()[0]
    page = client.get(link_path)
    assert page.status_code == 200 and "12,50" in page.text.replace("\xa0", " "), page.text[:300]
    invoice = one(received, "invoice_issued", CARL)
    assert invoice.subject.startswith("Invoice INV-") and invoice.subject.endswith("Test shop")
    assert "for $100.00, due on Mar 16, 2026." in invoice.text
    [(filename, pdf)] = invoice.attachments()
    assert filename.endswith(".pdf") and pdf.startswith(b"%PDF")
    # The link to view and pay the invoice online opens its hosted page.
    invoice_path = invoice.text.split(f"{BASE_URL}/billing/invoices/", 1)[1].split()[0]
    hosted = client.get(f"/billing/invoices/{invoice_path}")
    assert hosted.status_code == 200 and invoice.subject.split()[1] in hosted.text
    boss_subjects = sorted(
        m.subject for m in received if m.to == [BOSS] and m.message["X-Cadency-Email"]
    )
    assert boss_subjects == [
        "First payment: Ann paid $15.00",
        "First payment: Ann paid $30.00",
        "First payment: Ann paid $40.00",
        "Payment failed: $12.50 from Ann",
    ]
    assert "Første betaling: Ann har betalt 30,00 US$" in {
        m.subject for m in received if m.to == [CHEF]
    }
    # The processor's failure code reads as words, in the reader's language.
    [boss_failed] = [
        m for m in received if m.to == [BOSS] and m.subject.startswith("Payment failed")
    ]
    assert "Card declined" in boss_failed.text and "card_declined" not in boss_failed.text
    [chef_failed] = [m for m in received if m.to == [CHEF] and "12,50" in m.subject]
    assert "Kort afvist" in chef_failed.text and "card_declined" not in chef_failed.text

    # --- the Danish super admin turns payment emails off ----------------------------------
    with session_factory() as session:
        user = session.get(User, chef_id)
        assert user is not None
        account_service.set_payment_notifications(session, user, False)
        session.commit()

    # Canceling within the commitment: a notice of non-renewal to the buyer and billing admins.
    story.cancel(dorte["id"], "at_period_end", reason="too_expensive")
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == sorted(
        [
            ("non_renewal", DORTE, "da"),
            ("non_renewal", BOSS, "en"),
            ("non_renewal", CHEF, "da"),
            ("non_renewal", BOOKS, "en"),
        ]
    )
    notice = one(received, "non_renewal", DORTE)
    assert notice.subject == ("Meddelelse om ikke-fornyelse: abonnementet slutter den 1. sep. 2026")
    assert "Bindingsperiode: 6 måneder" in notice.text
    assert "Bindingsperioden slutter: 1. sep. 2026" in notice.text
    english = one(received, "non_renewal", BOOKS)
    assert "Commitment period: 6 months" in english.text
    assert "Effective date: Sep 1, 2026" in english.text

    # --- dunning: retries on March 4th, 6th and 8th, then the subscription is canceled --------
    story.advance_to(date(2026, 3, 4))
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == [("admin_payment", BOSS, "en"), ("payment_failed", BERND, "de")]
    assert "06.03.2026" in one(received, "payment_failed", BERND).text

    story.advance_to(date(2026, 3, 8))
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == sorted(
        [
            ("payment_failed", BERND, "de"),
            ("payment_failed", BERND, "de"),
            ("admin_payment", BOSS, "en"),
            ("admin_payment", BOSS, "en"),
            ("canceled", BERND, "de"),
        ]
    )
    # Two retries (the 6th and the 8th) in one step; they arrive over parallel connections,
    # so in either order. Only the last one says so, and it has no link: nothing is left to pay.
    retry, last = sorted(
        (m for m in received if m.message["X-Cadency-Email"] == "payment_failed"),
        key=lambda m: "Dies war unser letzter Versuch" in m.text,
    )
    assert "Dies war unser letzter Versuch" not in retry.text and "08.03.2026" in retry.text
    assert "Dies war unser letzter Versuch" in last.text
    assert "update-payment-method" not in last.text
    canceled = one(received, "canceled", BERND)
    assert canceled.subject == "Ihr Abonnement bei Test shop ist gekündigt"
    assert "am 08.03.2026 gekündigt" in canceled.text
    assert "weil wir die Zahlung nicht einziehen konnten" in canceled.text

    # --- the trial ends: a notice three days before, then the first payment ------------------
    story.advance_to(date(2026, 3, 12))
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == [("trial_ending", EVE, "en")]
    trial = one(received, "trial_ending", EVE)
    assert trial.subject == "Your free trial with Test shop ends on Mar 15, 2026"
    assert "Your first payment of $20.00 will be charged then." in trial.text

    story.advance_to(date(2026, 3, 15))
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == [("admin_payment", BOSS, "en"), ("receipt", EVE, "en")]

    # --- the sent invoice is overdue the day after its due date ------------------------------
    story.advance_to(date(2026, 3, 17))
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == [("invoice_overdue", CARL, "en")]
    overdue = one(received, "invoice_overdue", CARL)
    assert "was due on Mar 16, 2026 and $100.00 is still unpaid." in overdue.text

    # --- renewal reminders 14 days before April 1st --------------------------------------------
    story.advance_to(date(2026, 3, 18))
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == [
        ("renewal_reminder", ANNA, "nl"),
        ("renewal_reminder", DORTE, "da"),
        ("renewal_reminder", FIONA, "en"),
    ]
    assert one(received, "renewal_reminder", ANNA).subject == (
        "Je abonnement bij Test shop wordt verlengd op 1 apr 2026"
    )
    assert "US$ 30,00" in one(received, "renewal_reminder", ANNA).text
    # The reminder links to the buyer's billing settings, in the buyer's language.
    reminder = one(received, "renewal_reminder", ANNA).text
    assert "Je abonnement beheren:" in reminder
    portal_path = (
        "/billing/portal/" + reminder.split(f"{BASE_URL}/billing/portal/", 1)[1].split()[0]
    )
    portal = client.get(portal_path)
    assert portal.status_code == 200 and "Factureringsinstellingen" in portal.text
    assert "1 apr 2026" in portal.text.replace("\xa0", " ")
    assert "1. apr. 2026" in one(received, "renewal_reminder", DORTE).text
    assert "40,00 US$" in one(received, "renewal_reminder", DORTE).text

    # --- April 1st: renewals, Eve's reminder; Carl's invoice was never paid, so on March 23rd
    # (its due date + the last dunning retry day) his subscription was canceled -------------
    story.advance_to(date(2026, 4, 1))
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == sorted(
        [
            ("receipt", ANNA, "nl"),
            ("admin_payment", BOSS, "en"),
            ("canceled", CARL, "en"),
            ("receipt", DORTE, "da"),
            ("admin_payment", BOSS, "en"),
            ("receipt", FIONA, "en"),
            ("admin_payment", BOSS, "en"),
            ("renewal_reminder", EVE, "en"),
        ]
    )
    assert "Payment received: Ann paid $30.00" in {m.subject for m in received}
    assert "It was canceled because its invoice was not paid in time." in (
        one(received, "canceled", CARL).text
    )
    assert "Keep this email as your receipt." in one(received, "receipt", FIONA).text

    # --- the buyer is sent a link to update the payment method ---------------------------------
    with session_factory() as session:
        account = session.get(Account, account_id)
        assert account is not None
        link = subscription_service.request_payment_method_update(
            session, account, anna["id"], BASE_URL
        )
        session.commit()
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == [("payment_method_link", ANNA, "nl")]
    assert link.url in one(received, "payment_method_link", ANNA).text

    # --- May 1st: Fiona's two payments are done, and her subscription has ended ---------------
    story.advance_to(date(2026, 5, 1))
    received = step(session_factory, account_id, smtp_server)
    fiona = [m for m in received if m.to == [FIONA]]
    assert arrived(fiona) == [("expired", FIONA, "en")]
    assert "Your subscription ended on May 1, 2026" in fiona[0].text
    assert story.status(bernd["id"]) == "canceled"

    # Nothing is sent twice: every delivery was sent once, and a new dispatcher finds nothing.
    rows = deliveries(session_factory, account_id)
    assert rows and all(status == "sent" and attempts == 1 for *_, status, attempts in rows)
    assert step(session_factory, account_id, smtp_server) == []
    with session_factory() as session:
        per_email = session.execute(
            select(func.count())
            .select_from(EmailDelivery)
            .where(EmailDelivery.account_id == account_id)
            .group_by(EmailDelivery.outbox_message_id, EmailDelivery.kind, EmailDelivery.recipient)
            .having(func.count() > 1)
        ).all()
        assert per_email == []
    # The viewer holds no billing permission and is no super admin: never mailed.
    assert all(recipient != VIEWER for _kind, recipient, *_ in rows)
