"""A small shop to export, and readers of the files it becomes (csv and openpyxl)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
from sqlalchemy.orm import Session

from cadency.accounts.models import Account
from cadency.crm.models import Association, Company, Contact, Deal
from cadency.exports import service
from cadency.exports.models import Export
from cadency.kit.ids import new_id
from cadency.properties import service as properties
from cadency.properties.schemas import PropertyCreate
from cadency.subscriptions.models import Subscription

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)
# Names a spreadsheet would run as formulas, and one it would not.
FORMULA_NAMES = ["=SUM(1)", "+1", "-2", "@x", "\tTab", "\rReturn"]


@dataclass
class Shop:
    account_id: int
    contact_id: str
    company_id: str
    subscriptions: list[str] = field(default_factory=list)
    deals: list[str] = field(default_factory=list)


def add_subscription(db: Session, shop: Shop, name: str, **fields: Any) -> str:
    values: dict[str, Any] = {
        "status": "active",
        "currency": "USD",
        "collection_method": "charge_automatically",
        "billing_frequency": "monthly",
        "billing_terms": "auto_renew",
        "start_date": date(2025, 1, 1),
        "billing_anchor": date(2025, 1, 1),
        "next_payment_date": date(2026, 3, 15),
        "recurring_amount": 2500,
        "created_at": NOW - timedelta(days=len(shop.subscriptions)),
        "updated_at": NOW,
        "contact_id": shop.contact_id,
        **fields,
    }
    sub = Subscription(id=new_id("sub"), account_id=shop.account_id, name=name, **values)
    db.add(sub)
    db.flush()
    shop.subscriptions.append(sub.id)
    return sub.id


def make_shop(db: Session, account_id: int) -> Shop:
    """Two subscriptions: "Coffee" (with a company, a tier, three deals) and "Tea" (JPY)."""
    account = db.get(Account, account_id)
    assert account is not None
    contact = Contact(
        id=new_id("cont"),
        account_id=account_id,
        email="emma@example.com",
        first_name="Emma",
        last_name="Jansen",
        created_at=NOW,
        updated_at=NOW,
    )
    company = Company(
        id=new_id("comp"), account_id=account_id, name="Acme", created_at=NOW, updated_at=NOW
    )
    db.add_all([contact, company])
    db.flush()
    properties.create_definition(
        db,
        account,
        "subscriptions",
        PropertyCreate.model_validate(
            {
                "name": "tier",
                "label": "Tier",
                "field_type": "select",
                "options": [{"value": "basic", "label": "Basic"}, {"value": "pro", "label": "Pro"}],
            }
        ),
        plan_limit=None,
    )
    shop = Shop(account_id, contact.id, company.id)
    coffee = add_subscription(db, shop, "Coffee", company_id=company.id)
    add_subscription(db, shop, "Tea", currency="JPY", recurring_amount=1200)
    properties.set_values(db, account, "subscriptions", coffee, {"tier": "pro"}, creating=False)
    for n in range(3):
        deal = Deal(
            id=new_id("deal"),
            account_id=account_id,
            name=f"Deal {n}",
            stage="won",
            currency="USD",
            amount=100,
            created_at=NOW,
            updated_at=NOW,
        )
        db.add(deal)
        db.flush()
        shop.deals.append(deal.id)
        db.add(
            Association(
                account_id=account_id,
                from_type="subscription",
                from_id=coffee,
                to_type="deal",
                to_id=deal.id,
                label="associated",
                created_at=NOW,
            )
        )
    db.flush()
    return shop


def export_and_run(session_factory: Any, files_dir: str, account_id: int, **options: Any) -> Export:
    """Ask for an export, let the worker build it, and return the finished job."""
    with session_factory() as db:
        export_id = service.create_export(db, account_id, **options).id
        db.commit()
    service.run_all(session_factory, files_dir=files_dir)
    with session_factory() as db:
        export = db.get(Export, export_id)
        assert export is not None
        db.expunge(export)
        return export


def file_of(files_dir: str, export: Export) -> Path:
    assert export.status == "succeeded", export.error
    assert export.file_path is not None
    return Path(files_dir) / export.file_path


def read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV starts with a UTF-8 BOM"
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def read_xlsx(path: Path) -> list[list[Any]]:
    book = openpyxl.load_workbook(path)
    sheet = book.active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def xlsx_cells(path: Path) -> list[list[Any]]:
    """The cells themselves (value, number format)."""
    book = openpyxl.load_workbook(path)
    sheet = book.active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows()]
