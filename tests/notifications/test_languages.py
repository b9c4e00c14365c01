"""The buyer's language (SPEC §9): the subscription's invoice language, else the contact's, else
the account's; for the emails over SMTP, the invoices and the attached PDF alike. A change of
the contact's language applies from the next email and invoice on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tests.invoices.test_documents import pdf_text
from tests.notifications.conftest import SmtpServer
from tests.notifications.test_email_scenario import arrived, one, step
from tests.scenarios.story import Story

ASTRID, NOOR, HANS, EMMA = (
    "astrid@buyer.test",
    "noor@buyer.test",
    "hans@buyer.test",
    "emma@buyer.test",
)


def test_subscription_language_else_contact_language_else_account_language(
    client: Any, session_factory: Any, smtp_server: SmtpServer
) -> None:
    story = Story(client, session_factory, start=datetime(2026, 3, 1, 8, tzinfo=UTC))
    account_id = story.api.account_id
    # A Danish contact, no invoice language on the subscription: Danish.
    astrid = story.subscribe(price="30.00", email=ASTRID, contact_language="da")
    # The subscription's own language wins over the contact's.
    noor = story.subscribe(
        price="20.00", email=NOOR, contact_language="da", invoice_settings={"language": "nl"}
    )
    # Neither: the account's (English), and German once the account speaks German.
    emma = story.subscribe(price="10.00", email=EMMA)
    assert astrid["invoice_settings"]["language"] is None
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == sorted(
        [
            ("receipt", ASTRID, "da"),
            ("receipt", NOOR, "nl"),
            ("receipt", EMMA, "en"),
        ]
    )
    assert one(received, "receipt", ASTRID).subject == "Din kvittering fra Test shop"

    story.settings(language="de")
    hans = story.subscribe(
        price="50.00", email=HANS, collection_method="send_invoice", payment_terms="net_15"
    )
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == [("invoice_issued", HANS, "de")]
    issued = one(received, "invoice_issued", HANS)
    [(_, pdf)] = issued.attachments()
    assert "Rechnung" in pdf_text(pdf)
    assert [story.invoice(sub["id"])["language"] for sub in (astrid, noor, emma, hans)] == [
        "da",
        "nl",
        "en",
        "de",
    ]

    # Astrid now reads Dutch; Emma's contact speaks no language of its own, so the account's
    # (now German) applies to her renewal too.
    contact_id = astrid["contact_id"]
    assert story.api.ok(story.api.patch(f"/contacts/{contact_id}", {"language": "nl"}))
    story.advance_to(date(2026, 3, 18))
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == sorted(
        [
            ("renewal_reminder", ASTRID, "nl"),
            ("renewal_reminder", NOOR, "nl"),
            ("renewal_reminder", EMMA, "de"),
            ("invoice_overdue", HANS, "de"),
        ]
    )
    # Hans never paid: on March 23rd (the due date + the last dunning retry day) his
    # subscription was canceled, in his (the account's) language, and April is not invoiced.
    story.advance_to(date(2026, 4, 1))
    received = step(session_factory, account_id, smtp_server)
    assert arrived(received) == sorted(
        [
            ("receipt", ASTRID, "nl"),
            ("receipt", NOOR, "nl"),
            ("receipt", EMMA, "de"),
            ("canceled", HANS, "de"),
        ]
    )
    assert "Es wurde gekündigt, weil die Rechnung nicht rechtzeitig bezahlt wurde." in (
        one(received, "canceled", HANS).text
    )
    assert one(received, "receipt", ASTRID).subject == "Je betalingsbewijs van Test shop"
    assert [story.invoice(sub["id"])["language"] for sub in (astrid, noor, emma, hans)] == [
        "nl",
        "nl",
        "de",
        "de",
    ]
    # The first invoices keep the language they were written in.
    assert story.invoice(astrid["id"], 0)["language"] == "da"
    assert step(session_factory, account_id, smtp_server) == []
