"""Which permission opens which section of the web app. The left navigation and the page
handlers both read this one table, so a section is in the menu exactly when its pages open, and
the pages that show a section and the forms that change it agree on who may do what."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends

from cadency.kit.errors import PermissionDenied
from cadency.kit.i18n import N_
from cadency.web.auth import PageContext, page_context, page_requires

VIEW_SUBSCRIPTIONS = "subscriptions.view"
EDIT_SUBSCRIPTIONS = "subscriptions.edit"


@dataclass(frozen=True)
class Section:
    path: str
    label: str
    group: str
    # What its forms need (every change the section's pages make).
    edit: str
    # Any one of these opens it; empty: every signed-in user.
    read: tuple[str, ...]

    def opens_for(self, page: PageContext) -> bool:
        return not self.read or any(page.allows(permission) for permission in self.read)


COMMERCE = N_("Commerce")
CRM = N_("CRM")
AUTOMATION = N_("Automation")
REPORTS = N_("Reports")
SETTINGS = N_("Settings")


def _records(path: str, label: str, group: str) -> Section:
    return Section(path, label, group, edit=EDIT_SUBSCRIPTIONS, read=(VIEW_SUBSCRIPTIONS,))


# In the order of the navigation. Whoever may change a settings page may open it. Where reading
# is open to more users than changing, it is on purpose: the account settings are readable by
# everyone signed in; the account's plan, custom properties and the billing portal by everyone
# who sees subscriptions. Records (commerce, CRM) open with `subscriptions.view` alone.
SECTIONS: dict[str, Section] = {
    "subscriptions": _records("/subscriptions", N_("Subscriptions"), COMMERCE),
    "segments": _records("/segments", N_("Segments"), COMMERCE),
    "payments": _records("/payments", N_("Payments"), COMMERCE),
    "payment_links": _records("/payment-links", N_("Payment links"), COMMERCE),
    "products": _records("/products", N_("Products"), COMMERCE),
    "tax_rates": _records("/tax-rates", N_("Tax rates"), COMMERCE),
    "fees": _records("/fees", N_("Fees"), COMMERCE),
    "contacts": _records("/contacts", N_("Contacts"), CRM),
    "companies": _records("/companies", N_("Companies"), CRM),
    "deals": _records("/deals", N_("Deals"), CRM),
    "quotes": _records("/quotes", N_("Quotes"), CRM),
    "exports": Section(
        "/exports",
        N_("Exports"),
        CRM,
        edit="subscriptions.export",
        read=("subscriptions.export",),
    ),
    # Workflows email the account's people and buyers, change records and call URLs: the
    # account's super admins only, as the API's /workflows.
    "workflows": Section(
        "/workflows", N_("Workflows"), AUTOMATION, edit="super_admin", read=("super_admin",)
    ),
    # After Automation, as HubSpot's Reporting menu. Read-only: the page changes nothing.
    "analytics": Section(
        "/analytics",
        N_("Analytics"),
        REPORTS,
        edit="analytics.view",
        read=("analytics.view",),
    ),
    "account": Section("/settings/account", N_("Account"), SETTINGS, edit="billing.edit", read=()),
    "billing": Section(
        "/settings/billing",
        N_("Account & billing"),
        SETTINGS,
        edit="billing.edit",
        read=(VIEW_SUBSCRIPTIONS, "billing.edit"),
    ),
    "properties": Section(
        "/settings/properties",
        N_("Properties"),
        SETTINGS,
        edit="properties.edit",
        read=(VIEW_SUBSCRIPTIONS, "properties.edit"),
    ),
    "portal": Section(
        "/settings/portal",
        N_("Billing portal"),
        SETTINGS,
        edit="billing.edit",
        read=(VIEW_SUBSCRIPTIONS, "billing.edit"),
    ),
    # Its keys move the account's money: changed and seen with billing.edit, as the API's
    # /account/processor.
    "payment_processor": Section(
        "/settings/payment-processor",
        N_("Payment processor"),
        SETTINGS,
        edit="billing.edit",
        read=("billing.edit",),
    ),
    "users": Section(
        "/settings/users", N_("Users"), SETTINGS, edit="super_admin", read=("super_admin",)
    ),
    "api_keys": Section(
        "/settings/api-keys", N_("API keys"), SETTINGS, edit="super_admin", read=("super_admin",)
    ),
    "webhooks": Section(
        "/settings/webhooks", N_("Webhooks"), SETTINGS, edit="super_admin", read=("super_admin",)
    ),
    # Emails hold buyers' details and signed links: the account's super admins only.
    "mailbox": Section(
        "/settings/mailbox", N_("Mailbox"), SETTINGS, edit="super_admin", read=("super_admin",)
    ),
}


def navigation(page: PageContext) -> list[tuple[str, list[Section]]]:
    """The menu for this user: groups in order, each with the sections the user can open."""
    groups: dict[str, list[Section]] = {}
    for section in SECTIONS.values():
        if section.opens_for(page):
            groups.setdefault(section.group, []).append(section)
    return list(groups.items())


def reads(name: str) -> Callable[..., Any]:
    """A page dependency for the pages that show section `name`."""
    section = SECTIONS[name]

    async def dependency(page: PageContext = Depends(page_context)) -> PageContext:
        if not section.opens_for(page):
            raise PermissionDenied(
                page.gettext("You need the '%(permission)s' permission for this.")
                % {"permission": section.read[0]}
            )
        return page

    return dependency


def edits(name: str) -> Callable[..., Any]:
    """A page dependency for the forms that change section `name`."""
    return page_requires(SECTIONS[name].edit)


def home_path(page: PageContext) -> str:
    """The first section the user can open: where "/" takes them."""
    return next(s.path for s in SECTIONS.values() if s.opens_for(page))
