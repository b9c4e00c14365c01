"""Web pages of the catalog: the product library, tax rates and fees. Thin handlers that
authorise, call the same services as the REST API, and render.

Also the pieces the CRM and checkout pages share with these: reading a form, the "next page"
link of a cursor-paginated list, the labels of billing frequencies, and line-item rows picked
from the product library (deals, quotes and payment links)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from cadency.accounts.models import Account
from cadency.catalog import service
from cadency.catalog.line_items import LineItemInput
from cadency.catalog.models import Product
from cadency.catalog.schemas import FeeCreate, ProductCreate, ProductUpdate, TaxRateCreate
from cadency.kit import labels, money
from cadency.kit.endpoints import Cursor
from cadency.kit.i18n import N_
from cadency.kit.pagination import DEFAULT_LIMIT
from cadency.kit.repository import get_owned, owned_by_id
from cadency.web.auth import PageContext, page_requires
from cadency.web.forms import FormErrors, FormInvalid, attempt, build, form_data, text
from cadency.web.templating import redirect, render

router = APIRouter(include_in_schema=False)
VIEW = "subscriptions.view"
EDIT = "subscriptions.edit"
T = TypeVar("T")

SearchText = Annotated[str | None, Query(max_length=200)]

FEE_TYPES = {"fixed": N_("Fixed amount"), "percentage": N_("Percentage")}

# Line-item rows on the deal, quote and payment link forms: products from the library only
# (custom items need their own permission and a richer form: the subscription form has one).
LINE_ITEM_ROWS = 5
# Choices in a <select>: the newest records. A library larger than this needs a search box.
CHOICES_LIMIT = 100


# --- shared by the catalog, CRM and checkout pages ------------------------------------------


def page_url(request: Request, **changes: str | None) -> str:
    """This page's URL with some query parameters replaced (None removes one)."""
    params = {k: v for k, v in request.query_params.items() if k not in changes}
    params.update({k: v for k, v in changes.items() if v is not None})
    return request.url.path + ("?" + urlencode(params) if params else "")


def frequency_label(page: PageContext, frequency: str | None) -> str:
    return page.gettext(labels.frequency(frequency))


def failed(page: PageContext, exc: FormInvalid) -> FormErrors:
    """Forget whatever the failed attempt flushed (nothing half-written); keep its messages,
    translated where the pages wrote them (the services' own messages are shown as they are)."""
    page.session.rollback()
    return {key: page.gettext(message) for key, message in exc.errors.items()}


def records_by_id(page: PageContext, model: Any, ids: Iterable[str | None]) -> dict[str, Any]:
    """Records of this account by ID, for the names and links in a list (one query)."""
    return owned_by_id(page.session, model, page.account.id, ids)


def with_chosen(
    page: PageContext, model: Any, rows: Sequence[Any], chosen: str | None
) -> list[Any]:
    """Records for a <select>: the newest ones (`rows`), plus the chosen one when it is not
    among them (older, or archived: a form keeps what it has until another is chosen)."""
    found = list(rows)
    if chosen and all(row.id != chosen for row in found):
        record = records_by_id(page, model, [chosen]).get(chosen)
        if record is not None:
            found.insert(0, record)
    return found


def product_choices(session: Session, account: Account) -> Sequence[Product]:
    """Products that can go on a new line item: not archived, newest first."""
    rows, _, _ = service.list_products(
        session, account, archived=False, limit=CHOICES_LIMIT, cursor=None
    )
    return rows


def line_item_rows(form: FormData | None) -> list[dict[str, str]]:
    """The rows of the line-item table as posted (or empty rows for a new form)."""
    rows = []
    for index in range(LINE_ITEM_ROWS):
        row = {"product_id": "", "quantity": ""}
        if form is not None:
            for field in row:
                row[field] = text(form, f"line_items.{index}.{field}") or ""
        rows.append(row)
    return rows


def line_items_from_rows(
    rows: Sequence[Mapping[str, str]],
) -> tuple[list[LineItemInput], list[int]]:
    """The filled rows as the API's line items, and the form row of each item (empty rows are
    skipped, so item 0 may be row 2). Errors are keyed by form row: `line_items.<row>.<field>`."""
    items: list[LineItemInput] = []
    positions: list[int] = []
    errors: FormErrors = {}
    for index, row in enumerate(rows):
        if not row.get("product_id") and not row.get("quantity"):
            continue
        values: dict[str, Any] = {"product_id": row.get("product_id") or None}
        quantity = row.get("quantity") or ""
        if quantity:
            values["quantity"] = int(quantity) if quantity.isdigit() else quantity
        try:
            item = build(LineItemInput, values)
        except FormInvalid as exc:
            for field, message in exc.errors.items():
                errors[f"line_items.{index}.{field}"] = message
            continue
        if item.product_id is None:
            errors[f"line_items.{index}.product_id"] = N_("Choose a product for this line.")
            continue
        items.append(item)
        positions.append(index)
    if errors:
        raise FormInvalid(errors)
    return items, positions


def on_rows(positions: Sequence[int], call: Callable[[], T]) -> T:
    """`attempt(call)`, with a service error about item N moved onto the form row it came from."""
    try:
        return attempt(call)
    except FormInvalid as exc:
        errors: FormErrors = {}
        for key, message in exc.errors.items():
            parts = key.split(".")
            if len(parts) >= 2 and parts[0] == "line_items" and parts[1].isdigit():
                item = int(parts[1])
                if item < len(positions):
                    parts[1] = str(positions[item])
            errors[".".join(parts)] = message
        raise FormInvalid(errors) from exc


# --- products ---------------------------------------------------------------------------------

PRODUCT_FIELDS = (
    "name",
    "description",
    "sku",
    "unit_price",
    "currency",
    "billing_frequency",
    "tax_category",
    "fallback_product_id",
)
# Fields an edit may empty: an empty input means "none" (billing frequency: one-time).
CLEARABLE = ("description", "sku", "billing_frequency", "tax_category", "fallback_product_id")


def _product_values(form: FormData) -> dict[str, str | None]:
    return {field: text(form, field) for field in PRODUCT_FIELDS}


def _product_form_context(
    page: PageContext,
    product: Product | None,
    values: Mapping[str, Any],
    errors: FormErrors,
) -> dict[str, Any]:
    fallbacks = [
        p
        for p in product_choices(page.session, page.account)
        if p.billing_frequency and (product is None or p.id != product.id)
    ]
    frequencies = [("", page.gettext(labels.ONE_TIME))] + [
        (value, page.gettext(label)) for value, label in labels.FREQUENCIES.items()
    ]
    return {
        "product": product,
        "values": values,
        "errors": errors,
        "frequencies": frequencies,
        "fallbacks": [(p.id, f"{p.name} ({p.currency})") for p in fallbacks],
    }


@router.get("/products")
def products_index(
    request: Request,
    q: SearchText = None,
    archived: bool = False,
    cursor: Cursor = None,
    page: PageContext = Depends(page_requires(VIEW)),
) -> Response:
    rows, has_more, next_cursor = service.list_products(
        page.session, page.account, archived=archived, limit=DEFAULT_LIMIT, cursor=cursor, query=q
    )
    return render(
        request,
        "catalog/products.html",
        {
            "products": rows,
            "q": q or "",
            "archived": archived,
            "frequency": lambda f: frequency_label(page, f),
            "next_url": page_url(request, cursor=next_cursor) if has_more else None,
            "first_url": page_url(request, cursor=None) if cursor else None,
        },
    )


@router.get("/products/new")
def new_product(request: Request, page: PageContext = Depends(page_requires(EDIT))) -> Response:
    values = {field: "" for field in PRODUCT_FIELDS} | {"currency": page.account.currency}
    return render(
        request, "catalog/product_form.html", _product_form_context(page, None, values, {})
    )


@router.post("/products")
def create_product(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    values = _product_values(form)
    try:
        data = build(ProductCreate, values)
        product = attempt(lambda: service.create_product(page.session, page.account, data))
    except FormInvalid as exc:
        context = _product_form_context(page, None, values, failed(page, exc))
        return render(request, "catalog/product_form.html", context, status_code=422)
    page.session.commit()
    return redirect(f"/products/{product.id}", flash=page.gettext("The product was created."))


@router.get("/products/{product_id}")
def product_detail(
    request: Request, product_id: str, page: PageContext = Depends(page_requires(VIEW))
) -> Response:
    product = get_owned(page.session, Product, page.account.id, product_id, "product")
    fallback = (
        page.session.get(Product, product.fallback_product_id)
        if product.fallback_product_id
        else None
    )
    return render(
        request,
        "catalog/product.html",
        {
            "product": product,
            "fallback": fallback,
            "frequency": frequency_label(page, product.billing_frequency),
        },
    )


def _edit_values(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "description": product.description or "",
        "sku": product.sku or "",
        "unit_price": money.format_amount(product.unit_price, product.currency),
        "currency": product.currency,
        "billing_frequency": product.billing_frequency or "",
        "tax_category": product.tax_category or "",
        "fallback_product_id": product.fallback_product_id or "",
    }


@router.get("/products/{product_id}/edit")
def edit_product(
    request: Request, product_id: str, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    product = get_owned(page.session, Product, page.account.id, product_id, "product")
    context = _product_form_context(page, product, _edit_values(product), {})
    return render(request, "catalog/product_form.html", context)


@router.post("/products/{product_id}")
def update_product(
    request: Request,
    product_id: str,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    product = get_owned(page.session, Product, page.account.id, product_id, "product")
    values = _product_values(form)
    values.pop("currency")  # a product keeps the currency it was priced in
    try:
        changes = build(ProductUpdate, values).model_dump(exclude_unset=True)
        for field in ("name", "unit_price", *CLEARABLE):
            # An emptied input is a change to "none"; the service refuses it where required.
            if values[field] is None:
                changes[field] = None
        attempt(lambda: service.update_product(page.session, page.account, product.id, changes))
    except FormInvalid as exc:
        errors = failed(page, exc)
        product = get_owned(page.session, Product, page.account.id, product_id, "product")
        shown = values | {"currency": product.currency}
        context = _product_form_context(page, product, shown, errors)
        return render(request, "catalog/product_form.html", context, status_code=422)
    page.session.commit()
    return redirect(f"/products/{product_id}", flash=page.gettext("The product was saved."))


def _set_archived(page: PageContext, product_id: str, archived: bool) -> Response:
    product = service.update_product(page.session, page.account, product_id, {"archived": archived})
    page.session.commit()
    message = (
        N_("The product was archived. It can no longer be added to new line items.")
        if archived
        else N_("The product was restored.")
    )
    return redirect(f"/products/{product.id}", flash=page.gettext(message))


@router.post("/products/{product_id}/archive")
def archive_product(product_id: str, page: PageContext = Depends(page_requires(EDIT))) -> Response:
    return _set_archived(page, product_id, True)


@router.post("/products/{product_id}/unarchive")
def unarchive_product(
    product_id: str, page: PageContext = Depends(page_requires(EDIT))
) -> Response:
    return _set_archived(page, product_id, False)


# --- tax rates ----------------------------------------------------------------------------------

TAX_RATE_FIELDS = ("name", "percentage", "jurisdiction")


@router.get("/tax-rates")
def tax_rates_index(
    request: Request, cursor: Cursor = None, page: PageContext = Depends(page_requires(VIEW))
) -> Response:
    rows, has_more, next_cursor = service.list_tax_rates(
        page.session, page.account, limit=DEFAULT_LIMIT, cursor=cursor
    )
    return render(
        request,
        "catalog/tax_rates.html",
        {
            "tax_rates": rows,
            "next_url": page_url(request, cursor=next_cursor) if has_more else None,
            "first_url": page_url(request, cursor=None) if cursor else None,
        },
    )


@router.get("/tax-rates/new")
def new_tax_rate(request: Request, page: PageContext = Depends(page_requires(EDIT))) -> Response:
    values = {field: "" for field in TAX_RATE_FIELDS}
    return render(request, "catalog/tax_rate_form.html", {"values": values, "errors": {}})


@router.post("/tax-rates")
def create_tax_rate(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    values = {field: text(form, field) for field in TAX_RATE_FIELDS}
    try:
        data = build(TaxRateCreate, values)
        attempt(lambda: service.create_tax_rate(page.session, page.account, data))
    except FormInvalid as exc:
        context = {"values": values, "errors": failed(page, exc)}
        return render(request, "catalog/tax_rate_form.html", context, status_code=422)
    page.session.commit()
    return redirect("/tax-rates", flash=page.gettext("The tax rate was created."))


# --- fees -----------------------------------------------------------------------------------------

FEE_FIELDS = ("name", "fee_type", "amount", "currency", "percentage")


def _fee_form_context(page: PageContext, values: Mapping[str, Any], errors: FormErrors) -> Any:
    types = [(value, page.gettext(label)) for value, label in FEE_TYPES.items()]
    return {"values": values, "errors": errors, "fee_types": types}


@router.get("/fees")
def fees_index(
    request: Request, cursor: Cursor = None, page: PageContext = Depends(page_requires(VIEW))
) -> Response:
    rows, has_more, next_cursor = service.list_fees(
        page.session, page.account, limit=DEFAULT_LIMIT, cursor=cursor
    )
    return render(
        request,
        "catalog/fees.html",
        {
            "fees": rows,
            "fee_types": FEE_TYPES,
            "next_url": page_url(request, cursor=next_cursor) if has_more else None,
            "first_url": page_url(request, cursor=None) if cursor else None,
        },
    )


@router.get("/fees/new")
def new_fee(request: Request, page: PageContext = Depends(page_requires(EDIT))) -> Response:
    values = {field: "" for field in FEE_FIELDS} | {
        "fee_type": "fixed",
        "currency": page.account.currency,
    }
    return render(request, "catalog/fee_form.html", _fee_form_context(page, values, {}))


@router.post("/fees")
def create_fee(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(page_requires(EDIT)),
) -> Response:
    values = {field: text(form, field) for field in FEE_FIELDS}
    # The form shows every input; only those of the chosen kind of fee are sent on.
    if values["fee_type"] == "percentage":
        sent = {**values, "amount": None, "currency": None}
    else:
        sent = {**values, "percentage": None}
    try:
        data = build(FeeCreate, sent)
        attempt(lambda: service.create_fee(page.session, page.account, data))
    except FormInvalid as exc:
        context = _fee_form_context(page, values, failed(page, exc))
        return render(request, "catalog/fee_form.html", context, status_code=422)
    page.session.commit()
    return redirect("/fees", flash=page.gettext("The fee was created."))
