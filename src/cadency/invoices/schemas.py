from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StrictBool, StrictStr

from cadency.invoices.models import Invoice, InvoiceLine
from cadency.kit import money
from cadency.kit.errors import InvalidRequest
from cadency.kit.schemas import OutputModel, SingleLineText, StrictModel

InvoiceStatus = Literal["draft", "open", "paid", "void", "uncollectible"]


class InvoiceLineOut(OutputModel):
    description: str
    quantity: int
    unit_price: str
    discount: str
    tax: str
    amount: str
    tax_rate_id: str | None
    period_start: date | None
    period_end: date | None

    @classmethod
    def of(cls, line: InvoiceLine, currency: str) -> InvoiceLineOut:
        fmt = money.format_amount
        return cls(
            description=line.description,
            quantity=line.quantity,
            unit_price=fmt(line.unit_price, currency),
            discount=fmt(line.discount, currency),
            tax=fmt(line.tax, currency),
            amount=fmt(line.amount, currency),
            tax_rate_id=line.tax_rate_id,
            period_start=line.period_start,
            period_end=line.period_end,
        )


class InvoiceOut(OutputModel):
    id: str
    object: Literal["invoice"] = "invoice"
    number: str
    status: InvoiceStatus
    billing_reason: str
    collection_method: str
    subscription_id: str | None
    contact_id: str | None
    currency: str
    issue_date: date
    due_date: date
    period_start: date | None
    period_end: date | None
    lines: list[InvoiceLineOut]
    subtotal: str
    discount_total: str
    tax_total: str
    fee_total: str
    total: str
    amount_paid: str
    amount_due: str
    attempt_count: int
    next_attempt_date: date | None
    language: str
    locale: str
    comments: str | None
    tax_ids: list[str]
    paid_at: datetime | None
    voided_at: datetime | None
    created_at: datetime
    # The PDF behind the API key (GET /invoices/{id}/pdf), and the buyer's signed, expiring
    # link to the hosted page where the invoice is viewed and paid with no login.
    pdf_url: str
    hosted_url: str

    @classmethod
    def of(cls, invoice: Invoice, *, base_url: str, hosted_url: str) -> InvoiceOut:
        c = invoice.currency
        fmt = money.format_amount
        return cls(
            id=invoice.id,
            number=invoice.number,
            status=invoice.status,
            billing_reason=invoice.billing_reason,
            collection_method=invoice.collection_method,
            subscription_id=invoice.subscription_id,
            contact_id=invoice.contact_id,
            currency=c,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            lines=[InvoiceLineOut.of(line, c) for line in invoice.lines],
            subtotal=fmt(invoice.subtotal, c),
            discount_total=fmt(invoice.discount_total, c),
            tax_total=fmt(invoice.tax_total, c),
            fee_total=fmt(invoice.fee_total, c),
            total=fmt(invoice.total, c),
            amount_paid=fmt(invoice.amount_paid, c),
            amount_due=fmt(invoice.amount_due, c),
            attempt_count=invoice.attempt_count,
            next_attempt_date=invoice.next_attempt_date,
            language=invoice.language,
            locale=invoice.locale,
            comments=invoice.comments,
            tax_ids=list(invoice.tax_ids or []),
            paid_at=invoice.paid_at,
            voided_at=invoice.voided_at,
            created_at=invoice.created_at,
            pdf_url=f"{base_url.rstrip('/')}/api/v1/invoices/{invoice.id}/pdf",
            hosted_url=hosted_url,
        )


class PayRequest(StrictModel):
    payment_method_id: StrictStr | None = None
    # An offline payment (bank transfer, cash, cheque) the merchant received: recorded, not
    # charged. `reference` and `paid_at` describe it.
    paid_out_of_band: StrictBool = False
    reference: Annotated[SingleLineText, Field(min_length=1, max_length=255)] | None = None
    paid_at: AwareDatetime | None = None

    def check(self) -> None:
        """The fields of one way of paying must not be mixed with the other's."""
        if self.paid_out_of_band and self.payment_method_id is not None:
            raise InvalidRequest(
                "An offline payment is not charged to a payment method; leave out "
                "payment_method_id",
                param="payment_method_id",
            )
        if not self.paid_out_of_band:
            for name in ("reference", "paid_at"):
                if getattr(self, name) is not None:
                    raise InvalidRequest(
                        "%(name)s describes an offline payment; send paid_out_of_band: true",
                        name=name,
                        param=name,
                    )
