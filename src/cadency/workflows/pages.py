"""Automation → Workflows: the account's workflows, the editor of one, a workflow's page with
its enrollments, and the sentences its steps leave on a subscription's timeline. Super admins
only (web/sections.py), as the API's /workflows: a workflow emails the account's people and its
buyers, changes records and calls URLs.

Routes: GET /workflows (the list), GET/POST /workflows/new (the editor; saving adds one),
GET /workflows/{id} (what it does in words, its counts and enrollments, paged by `cursor`),
GET/POST /workflows/{id}/edit, POST /workflows/{id}/enable | disable | delete.

The editor's "Add action", "Remove" and "Move up" are submit buttons: the form comes back with
the actions changed and nothing saved, so it works without JavaScript (workflow-editor.js only
hides the fields the chosen trigger, action or recipients do not use). Its enrollment criteria
are the index page's filter editor, as a segment's filters are. Field names are the API's
dotted `param`s ("trigger.days", "actions.1.body"), so a refusal of the service lands next to
the field it names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from starlette.datastructures import FormData

from cadency.accounts.models import User
from cadency.catalog.pages import page_url
from cadency.config import Settings
from cadency.kit import i18n, periods
from cadency.kit.endpoints import Cursor
from cadency.kit.errors import Conflict
from cadency.kit.events import EventType
from cadency.kit.i18n import N_
from cadency.kit.pagination import DEFAULT_LIMIT
from cadency.plans.limits import workflow_allowance
from cadency.properties.models import PropertyDefinition
from cadency.subscriptions.display import BADGE_LABELS
from cadency.subscriptions.models import Subscription
from cadency.views.catalogs import SUBSCRIPTIONS, FilterProperty
from cadency.views.filter_form import (
    OPERATOR_LABELS,
    editor_context,
    filter_rows,
    read_filter_groups,
    text_of,
)
from cadency.web.auth import PageContext
from cadency.web.forms import FormErrors, FormInvalid, attempt, checked, form_data
from cadency.web.sections import edits, reads
from cadency.web.templating import redirect, render
from cadency.workflows import runner, service
from cadency.workflows.models import Workflow, WorkflowEnrollment
from cadency.workflows.schemas import (
    MAX_ACTIONS,
    MAX_DAYS,
    TriggerType,
    WorkflowCreate,
    WorkflowUpdate,
)

router = APIRouter(include_in_schema=False)
SECTION = "workflows"
HEADERS = {"Cache-Control": "no-store"}  # a workflow's page shows its webhook signing secret

# --- what things read as -------------------------------------------------------------------

TRIGGER_LABELS = {
    "subscription.created": N_("A subscription is created"),
    "subscription.status_changed": N_("A subscription's status changes"),
    "property_changed": N_("A property of a subscription changes"),
    "payment_due_in": N_("A payment is due in a number of days"),
    "payment.failed": N_("A payment fails"),
    "subscription.canceled": N_("A subscription is canceled"),
}
assert set(TRIGGER_LABELS) == set(get_args(TriggerType))
ACTION_LABELS = {
    "delay": N_("Wait"),
    "set_property": N_("Set a property"),
    "send_internal_email": N_("Email the account's users"),
    "send_email": N_("Email the billing contact"),
    "webhook": N_("Send a webhook"),
}
RECIPIENT_LABELS = {
    "super_admins": N_("The account's super admins"),
    "owner": N_("The subscription's owner"),
    "users": N_("These users"),
}
RECIPIENTS_IN_A_SENTENCE = {
    "super_admins": N_("the account's super admins"),
    "owner": N_("the subscription's owner"),
}
# The built-in fields a "property changed" trigger hears of and a "set property" action sets.
FIELD_LABELS = {
    "name": N_("Subscription name"),
    "contact_id": N_("Billing contact"),
    "company_id": N_("Company"),
    "payment_method_id": N_("Payment method"),
    "billing_address": N_("Billing address"),
    "next_payment_date": N_("Next payment date"),
    "payment_options": N_("Online payment options"),
    "owner_id": N_("Owner"),
}
assert set(FIELD_LABELS) >= set(service.CHANGEABLE_FIELDS) | set(service.SETTABLE_FIELDS)
ENROLLMENT_STATUSES = {
    "active": N_("Active"),
    "completed": N_("Completed"),
    "failed": N_("Failed"),
}
ENROLLMENT_BADGES = {"active": "active", "completed": "inactive", "failed": "unpaid"}

# What each step did, as an enrollment's history lists it (the runner's outcome codes):
# %(detail)s is what the runner recorded (a recipient, "tier = gold", the reason it failed),
# %(date)s the date a wait ends.
OUTCOME_LABELS = {
    runner.ENROLLED: N_("Enrolled"),
    runner.WAITED: N_("Waiting until %(date)s"),
    runner.PROPERTY_SET: N_("Property set (%(detail)s)"),
    runner.EMAIL_QUEUED: N_("Email sent to %(detail)s"),
    runner.INTERNAL_EMAIL_QUEUED: N_("Internal email sent to %(detail)s"),
    runner.WEBHOOK_SENT: N_("Webhook sent (answer %(detail)s)"),
    runner.WEBHOOK_RETRYING: N_("Webhook failed and will be sent again: %(detail)s"),
    runner.FAILED: N_("Failed: %(detail)s"),
    runner.COMPLETED: N_("Completed"),
}
# The same outcomes as sentences on the subscription's timeline, which names the workflow.
TIMELINE_SENTENCES = {
    runner.ENROLLED: N_("Enrolled in workflow “%(name)s”."),
    runner.WAITED: N_("Workflow “%(name)s”: waiting until %(date)s."),
    runner.PROPERTY_SET: N_("Workflow “%(name)s”: property set (%(detail)s)."),
    runner.EMAIL_QUEUED: N_("Workflow “%(name)s”: email sent to %(detail)s."),
    runner.INTERNAL_EMAIL_QUEUED: N_("Workflow “%(name)s”: internal email sent to %(detail)s."),
    runner.WEBHOOK_SENT: N_("Workflow “%(name)s”: webhook sent (answer %(detail)s)."),
    runner.WEBHOOK_RETRYING: N_(
        "Workflow “%(name)s”: the webhook failed and will be sent again: %(detail)s."
    ),
    runner.FAILED: N_("Workflow “%(name)s”: step %(step)s failed: %(detail)s."),
    runner.COMPLETED: N_("Workflow “%(name)s”: completed."),
}
assert set(OUTCOME_LABELS) == set(TIMELINE_SENTENCES)
_UNKNOWN_OUTCOME = N_("Workflow “%(name)s”: %(outcome)s.")
# Steps that are no action of the workflow: the history lists them without a number.
_UNNUMBERED = (runner.ENROLLED, runner.COMPLETED)


def _allow_private(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.webhook_allow_private


def _date_text(page: PageContext, value: str) -> str:
    try:
        return page.fmt.date(date.fromisoformat(value))
    except ValueError:
        return value


def _moment(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def timeline_sentence(page: PageContext, kind: str, data: Mapping[str, Any]) -> str:
    """A workflow's entry on a subscription's timeline (EventType.WORKFLOW_ENROLLED and
    WORKFLOW_STEP, written by the runner) as a sentence in the page's language."""
    outcome = runner.ENROLLED if kind == EventType.WORKFLOW_ENROLLED else str(data.get("outcome"))
    detail = str(data.get("detail") or "")
    return page.gettext(TIMELINE_SENTENCES.get(outcome, _UNKNOWN_OUTCOME)) % {
        "name": data.get("workflow_name", ""),
        "outcome": outcome,
        "step": data.get("step", ""),
        "detail": detail,
        "date": _date_text(page, detail),
    }


def _history(page: PageContext, entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """An enrollment's history as lines: the action's number, what it did, and the day."""
    lines = []
    for entry in entries:
        outcome = str(entry.get("outcome"))
        detail = str(entry.get("detail") or "")
        label = OUTCOME_LABELS.get(outcome)
        at = _moment(entry.get("at"))
        lines.append(
            {
                "number": None if outcome in _UNNUMBERED else entry.get("step"),
                "text": page.gettext(label) % {"detail": detail, "date": _date_text(page, detail)}
                if label
                else outcome,
                "date": page.fmt.date(periods.local_date(at, page.account.timezone)) if at else "",
            }
        )
    return lines


def _user_emails(page: PageContext) -> dict[int, str]:
    return dict(
        page.session.execute(
            select(User.id, User.email).where(User.account_id == page.account.id)
        ).all()
    )


def _value_text(name: str, value: Any, emails: Mapping[int, str]) -> str:
    """A "set property" value as its form field holds it (and as the workflow's page says it):
    an owner set by user ID through the API reads as the user's email address."""
    if value is None:
        return ""
    if name == "owner_id" and isinstance(value, int) and not isinstance(value, bool):
        return emails.get(value, str(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def _field_labels(page: PageContext, custom: Sequence[PropertyDefinition]) -> dict[str, str]:
    """Labels of what a trigger or an action may name: built-in fields, then custom
    properties by their own label."""
    labels = {name: page.gettext(label) for name, label in FIELD_LABELS.items()}
    labels.update({d.name: d.label for d in custom})
    return labels


def describe_trigger(
    page: PageContext, trigger: Mapping[str, Any], labels: Mapping[str, str]
) -> str:
    """A trigger in words ("When a subscription's status changes to Past due"); `labels`
    name the properties (_field_labels)."""
    _ = page.gettext
    kind = trigger.get("type")
    if kind == "subscription.status_changed":
        status = str(trigger.get("status"))
        return _("When a subscription's status changes to %(status)s") % {
            "status": _(BADGE_LABELS[status]) if status in BADGE_LABELS else status
        }
    if kind == "property_changed":
        name = str(trigger.get("property"))
        return _("When the property %(property)s of a subscription changes") % {
            "property": labels.get(name, name)
        }
    if kind == "payment_due_in":
        days = int(trigger.get("days") or 0)
        if days == 0:
            return _("When a payment is due today")
        ngettext = i18n.translations(page.language).ngettext
        return ngettext(
            "When a payment is due in %(num)s day", "When a payment is due in %(num)s days", days
        ) % {"num": days}
    sentences = {
        "subscription.created": N_("When a subscription is created"),
        "payment.failed": N_("When a payment fails"),
        "subscription.canceled": N_("When a subscription is canceled"),
    }
    return _(sentences[kind]) if kind in sentences else str(kind)


def _filter_value(page: PageContext, found: FilterProperty | None, value: Any) -> str:
    """A filter's value as the editor offers it: an option's label where it has one."""
    text = text_of(value)
    label = dict(found.options).get(text) if found else None
    if found is None or label is None:
        return text
    return page.gettext(label) if found.translate else label


def describe_criteria(
    page: PageContext, groups: Sequence[Mapping[str, Any]], offered: Sequence[FilterProperty]
) -> list[str]:
    """Each filter group in words ("Status is equal to Active and Tier is any of Gold"); a
    subscription meets the criteria when any group holds."""
    _ = page.gettext
    by_name = {p.name: p for p in offered}
    described = []
    for group in groups:
        parts = []
        for item in group.get("filters") or []:
            found = by_name.get(str(item.get("property")))
            if found is None:
                label = str(item.get("property"))
            else:
                label = _(found.label) if found.translate else found.label
            operator = str(item.get("operator", "eq"))
            words = [label, _(OPERATOR_LABELS.get(operator, operator))]
            if item.get("values") is not None:
                words.append(", ".join(_filter_value(page, found, v) for v in item["values"]))
            elif item.get("value") is not None:
                words.append(_filter_value(page, found, item["value"]))
                if item.get("high_value") is not None:
                    words += [_("and"), _filter_value(page, found, item["high_value"])]
            parts.append(" ".join(words))
        described.append(f" {_('and')} ".join(parts))
    return described


def describe_action(
    page: PageContext,
    action: Mapping[str, Any],
    labels: Mapping[str, str],
    emails: Mapping[int, str],
) -> str:
    """An action in words ("Wait 3 days", "Email the billing contact: “Welcome”"); `emails`
    of the account's users name an owner set by user ID."""
    _ = page.gettext
    kind = action.get("type")
    if kind == "delay":
        days = int(action.get("days") or 0)
        ngettext = i18n.translations(page.language).ngettext
        return ngettext("Wait %(num)s day", "Wait %(num)s days", days) % {"num": days}
    if kind == "set_property":
        name = str(action.get("property"))
        value = action.get("value")
        if value is None or value == []:
            return _("Clear %(property)s") % {"property": labels.get(name, name)}
        return _("Set %(property)s to “%(value)s”") % {
            "property": labels.get(name, name),
            "value": _value_text(name, value, emails),
        }
    if kind == "send_internal_email":
        to = action.get("to")
        if isinstance(to, list):
            recipients = ", ".join(str(email) for email in to)
        else:
            recipients = _(RECIPIENTS_IN_A_SENTENCE.get(str(to), str(to)))
        return _("Email %(recipients)s: “%(subject)s”") % {
            "recipients": recipients,
            "subject": action.get("subject", ""),
        }
    if kind == "send_email":
        return _("Email the billing contact: “%(subject)s”") % {
            "subject": action.get("subject", "")
        }
    if kind == "webhook":
        return _("Send a webhook to %(url)s") % {"url": action.get("url", "")}
    return str(kind)


def _plan_notice(page: PageContext, *, adding: bool) -> str | None:
    """Why no workflow can be turned on (the plan has none) or, `adding`, added (the plan's
    number is reached) — the service's rule (service.check_allowed), said before a form is
    filled in for nothing."""
    allowance = workflow_allowance(page.session, page.account)
    if not allowance.allowed:
        return page.gettext(
            "Your plan (%(plan)s) does not include workflows. Upgrade to a plan that does to "
            "use them."
        ) % {"plan": allowance.plan_name or ""}
    if adding:
        try:
            service.check_allowed(page.session, page.account, adding=True)
        except Conflict as exc:
            return page.gettext(exc.message)
    return None


# --- the list ----------------------------------------------------------------------------------


@router.get("/workflows")
def list_workflows(request: Request, page: PageContext = Depends(reads(SECTION))) -> Response:
    workflows = service.all_workflows(page.session, page.account.id)
    counts = service.enrollment_counts(page.session, [w.id for w in workflows])
    labels = _field_labels(page, SUBSCRIPTIONS.custom_definitions(page.session, page.account.id))
    rows = [
        {
            "workflow": w,
            "trigger": describe_trigger(page, w.trigger, labels),
            "counts": counts[w.id],
        }
        for w in workflows
    ]
    context = {"rows": rows, "notice": _plan_notice(page, adding=True)}
    return render(request, "workflows/list.html", context)


# --- the editor --------------------------------------------------------------------------------

ACTION_FIELDS = ("type", "days", "property", "value", "to", "to_users", "subject", "body", "url")
_ACTION_FIELD = re.compile(r"actions\.(\d{1,3})\.(" + "|".join(ACTION_FIELDS) + ")")
_OP = re.compile(r"(remove|up)\.(\d{1,3})")
_TRIGGER_PARTS = ("type", "status", "property", "days")
_EMAILS = re.compile(r"[\s,;]+")


def _blank_action(kind: str) -> dict[str, str]:
    return {**dict.fromkeys(ACTION_FIELDS, ""), "type": kind, "to": "super_admins"}


def _saved_values(workflow: Workflow, emails: Mapping[int, str]) -> dict[str, Any]:
    """A saved workflow as the editor's fields hold it."""
    trigger = workflow.trigger or {}
    actions = []
    for action in workflow.actions or []:
        values = _blank_action(str(action.get("type", "")))
        for name in ("property", "subject", "body", "url"):
            values[name] = str(action.get(name) or "")
        if action.get("days") is not None:
            values["days"] = str(action["days"])
        values["value"] = _value_text(values["property"], action.get("value"), emails)
        to = action.get("to")
        if isinstance(to, list):
            values["to"], values["to_users"] = "users", ", ".join(str(email) for email in to)
        elif to:
            values["to"] = str(to)
        actions.append(values)
    return {
        "name": workflow.name,
        "trigger": {
            part: "" if trigger.get(part) is None else str(trigger[part]) for part in _TRIGGER_PARTS
        },
        "criteria": list(workflow.criteria or []),
        "re_enroll": workflow.re_enroll,
        "enabled": workflow.enabled,
        "actions": actions,
    }


def _form_values(page: PageContext, form: FormData) -> dict[str, Any]:
    """What the editor sent, as typed (the criteria in the filter language's shape)."""

    def field(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    by_index: dict[int, dict[str, str]] = {}
    for key, value in form.multi_items():
        found = _ACTION_FIELD.fullmatch(key)
        if found and isinstance(value, str):
            action = by_index.setdefault(int(found[1]), {**_blank_action(""), "to": ""})
            action[found[2]] = value
    offered = SUBSCRIPTIONS.filter_properties(
        SUBSCRIPTIONS.custom_definitions(page.session, page.account.id)
    )
    return {
        "name": field("name"),
        "trigger": {part: field(f"trigger.{part}") for part in _TRIGGER_PARTS},
        "criteria": read_filter_groups(form, offered, page.account.timezone),
        "re_enroll": checked(form, "re_enroll"),
        "enabled": checked(form, "enabled"),
        "actions": [by_index[i] for i in sorted(by_index)],
    }


def _rearranged(form: FormData, actions: list[dict[str, str]]) -> bool:
    """Carry out "Add action", "Remove" or "Move up" on the form's actions; False when the
    form was sent to be saved."""
    op = form.get("op")
    if op == "add":
        kind = form.get("new_action_type")
        if isinstance(kind, str) and kind in ACTION_LABELS and len(actions) < MAX_ACTIONS:
            actions.append(_blank_action(kind))
        return True
    found = _OP.fullmatch(op) if isinstance(op, str) else None
    if found is None:
        return False
    i = int(found[2])
    if found[1] == "remove" and i < len(actions):
        del actions[i]
    elif found[1] == "up" and 0 < i < len(actions):
        actions[i - 1], actions[i] = actions[i], actions[i - 1]
    return True


def _days(page: PageContext, text: str, lowest: int, param: str, errors: FormErrors) -> int:
    text = text.strip()
    # No more digits than MAX_DAYS has: thousands of digits are no number of days (and
    # Python refuses to read over 4,300).
    number = text.isascii() and text.isdigit() and len(text) <= len(str(MAX_DAYS))
    if number and lowest <= int(text) <= MAX_DAYS:
        return int(text)
    errors[param] = page.gettext("Enter a whole number of days from %(min)s to %(max)s.") % {
        "min": lowest,
        "max": MAX_DAYS,
    }
    return lowest


def _typed_value(name: str, text: str, definition: PropertyDefinition | None, timezone: str) -> Any:
    """A "set property" value typed in the form, in the API's JSON shape for the property's
    type; the service says what is wrong with it."""
    text = text.strip()
    if text == "":
        return None  # clears the property
    if name == "owner_id" and text.isascii() and text.isdigit() and len(text) < 16:
        return int(text)  # a user's ID, as the API takes it besides their email address
    kind = definition.field_type if definition else None
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind == "checkboxes":
        return [item.strip() for item in text.split(",") if item.strip()]
    if kind == "datetime":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(timezone))
        return moment.isoformat()
    return text


def _payload(page: PageContext, values: Mapping[str, Any]) -> dict[str, Any]:
    """The API's body of a workflow from the editor's fields. FormInvalid for what a form can
    leave out or get wrong before the schema and the service look (their messages read as
    API errors)."""
    _ = page.gettext
    errors: FormErrors = {}
    required = _("This field is required.")
    if not values["name"].strip():
        errors["name"] = _("Give the workflow a name.")
    sent = values["trigger"]
    trigger: dict[str, Any] = {"type": sent["type"]}
    if sent["type"] not in TRIGGER_LABELS:
        errors["trigger.type"] = _("Choose what starts the workflow.")
    elif sent["type"] == "subscription.status_changed":
        trigger["status"] = sent["status"]
        if not sent["status"]:
            errors["trigger.status"] = required
    elif sent["type"] == "property_changed":
        trigger["property"] = sent["property"]
        if not sent["property"]:
            errors["trigger.property"] = required
    elif sent["type"] == "payment_due_in":
        trigger["days"] = _days(page, sent["days"], 0, "trigger.days", errors)

    custom = {d.name: d for d in SUBSCRIPTIONS.custom_definitions(page.session, page.account.id)}
    actions: list[dict[str, Any]] = []
    for i, action in enumerate(values["actions"]):
        param, kind = f"actions.{i}", action["type"]
        if kind == "delay":
            actions.append(
                {"type": kind, "days": _days(page, action["days"], 1, f"{param}.days", errors)}
            )
        elif kind == "set_property":
            chosen = action["property"]
            if not chosen:
                errors[f"{param}.property"] = required
            value = _typed_value(chosen, action["value"], custom.get(chosen), page.account.timezone)
            actions.append({"type": kind, "property": chosen, "value": value})
        elif kind in ("send_email", "send_internal_email"):
            made: dict[str, Any] = {
                "type": kind,
                "subject": action["subject"].strip(),
                # Browsers send a textarea's lines with CRLF; emails are written with LF.
                "body": action["body"].replace("\r\n", "\n"),
            }
            for name in ("subject", "body"):
                if not made[name].strip():
                    errors[f"{param}.{name}"] = required
            if kind == "send_internal_email":
                if action["to"] == "users":
                    made["to"] = [e for e in _EMAILS.split(action["to_users"]) if e]
                    if not made["to"]:
                        errors[f"{param}.to_users"] = _(
                            "Enter the email address of at least one user."
                        )
                elif action["to"] in ("super_admins", "owner"):
                    made["to"] = action["to"]
                else:
                    errors[f"{param}.to"] = _("Choose who gets the email.")
            actions.append(made)
        elif kind == "webhook":
            actions.append({"type": kind, "url": action["url"].strip()})
            if not action["url"].strip():
                errors[f"{param}.url"] = required
        else:
            errors[f"{param}.type"] = _("Choose what the action does.")
    if not values["actions"]:
        errors["actions"] = _("Add at least one action.")
    elif len(values["actions"]) > MAX_ACTIONS:
        errors["actions"] = _("A workflow has at most %(max)s actions.") % {"max": MAX_ACTIONS}
    if errors:
        raise FormInvalid(errors)
    criteria = values["criteria"]
    return {
        "name": values["name"],
        "enabled": values["enabled"],
        "trigger": trigger,
        "criteria": {"filter_groups": criteria} if criteria else None,
        "re_enroll": values["re_enroll"],
        "actions": actions,
    }


def _param(loc: Sequence[Any]) -> str:
    """A pydantic error's location as the API's param, without the union's tags: the action's
    type in "actions.0.send_email.subject", the list-or-literal of recipients."""
    parts = [str(p) for p in loc if not (isinstance(p, str) and "[" in p)]
    if len(parts) > 2 and parts[0] == "actions" and parts[2] in ACTION_LABELS:
        del parts[2]
    return ".".join(parts)


def _validated(page: PageContext, schema: type[BaseModel], payload: Mapping[str, Any]) -> Any:
    try:
        return schema.model_validate(payload)
    except ValidationError as exc:
        errors: FormErrors = {}
        for error in exc.errors():
            # Pydantic's own words: next to its field, the field needs no naming (and the
            # input is not echoed).
            message = (
                page.gettext("This field is required.")
                if error["type"] == "missing"
                else str(error["msg"]).removeprefix("Value error, ")
            )
            errors.setdefault(_param(error["loc"]), message)
        raise FormInvalid(errors) from exc


def _placed(page: PageContext, errors: FormErrors, values: Mapping[str, Any]) -> FormErrors:
    """Each message on the field the editor shows it next to; what fits none goes on top."""
    placed: FormErrors = {}
    for param, message in errors.items():
        parts = param.split(".")
        field = "__all__"
        if parts[0] in ("criteria", "filter_groups"):
            field = "criteria"
        elif parts[0] in ("name", "actions") and len(parts) == 1:
            field = parts[0]
        elif parts[0] == "trigger":
            field = (
                f"trigger.{parts[1]}"
                if len(parts) > 1 and parts[1] in _TRIGGER_PARTS
                else "trigger.type"
            )
        elif (
            parts[0] == "actions" and parts[1].isdigit() and int(parts[1]) < len(values["actions"])
        ):
            name = parts[2] if len(parts) > 2 and parts[2] in ACTION_FIELDS else "type"
            if name == "to" and (
                len(parts) > 3 or values["actions"][int(parts[1])]["to"] == "users"
            ):
                name = "to_users"  # "actions.1.to.0": the first of the users named
            field = f"actions.{parts[1]}.{name}"
        shown = page.gettext(message)
        placed[field] = f"{placed[field]} {shown}" if field in placed else shown
    return placed


def _editor(
    request: Request,
    page: PageContext,
    values: dict[str, Any],
    errors: FormErrors,
    *,
    workflow: Workflow | None,
    status_code: int = 200,
) -> Response:
    _ = page.gettext
    custom = SUBSCRIPTIONS.custom_definitions(page.session, page.account.id)
    offered = SUBSCRIPTIONS.filter_properties(custom)
    labels = _field_labels(page, custom)
    values["actions"] = values["actions"][:MAX_ACTIONS]
    roots = ("subscription", "contact", "account")
    merge_fields = sorted(service.MERGE_FIELDS, key=lambda f: (roots.index(f.split(".")[0]), f))
    context = {
        "workflow": workflow,
        "values": values,
        "errors": _placed(page, errors, values),
        "form_action": f"/workflows/{workflow.id}/edit" if workflow else "/workflows/new",
        "back_url": f"/workflows/{workflow.id}" if workflow else "/workflows",
        # A new workflow cannot be saved on a plan without (more) workflows: say so first.
        "notice": None if workflow else _plan_notice(page, adding=True),
        "triggers": [(k, _(v)) for k, v in TRIGGER_LABELS.items()],
        "statuses": [(s, _(BADGE_LABELS[s])) for s in service.STATUSES],
        "changeable": [
            (n, labels[n]) for n in (*service.CHANGEABLE_FIELDS, *(d.name for d in custom))
        ],
        "settable": [(n, labels[n]) for n in (*service.SETTABLE_FIELDS, *(d.name for d in custom))],
        "action_types": [(k, _(v)) for k, v in ACTION_LABELS.items()],
        "recipients": [(k, _(v)) for k, v in RECIPIENT_LABELS.items()],
        "merge_fields": [(f, None) for f in merge_fields]
        + [(f"subscription.properties.{d.name}", d.label) for d in custom],
        "max_days": MAX_DAYS,
        "can_add": len(values["actions"]) < MAX_ACTIONS,
        "filter_rows": filter_rows(values["criteria"]),
        **editor_context(page.gettext, offered),
    }
    return render(request, "workflows/editor.html", context, status_code=status_code)


def _save(
    request: Request,
    page: PageContext,
    form: FormData,
    workflow: Workflow | None,
    save: Callable[[dict[str, Any]], Workflow],
) -> Response:
    values = _form_values(page, form)
    if _rearranged(form, values["actions"]):
        return _editor(request, page, values, {}, workflow=workflow)
    try:
        saved = save(_payload(page, values))
    except FormInvalid as invalid:
        page.session.rollback()
        return _editor(request, page, values, invalid.errors, workflow=workflow, status_code=422)
    page.session.commit()
    message = page.gettext("Saved the workflow “%(name)s”.") % {"name": saved.name}
    return redirect(f"/workflows/{saved.id}", flash=message)


@router.get("/workflows/new")
def new_workflow(request: Request, page: PageContext = Depends(edits(SECTION))) -> Response:
    values = {
        "name": "",
        "trigger": {**dict.fromkeys(_TRIGGER_PARTS, ""), "type": "subscription.created"},
        "criteria": [],
        "re_enroll": False,
        # Off until its maker turns it on, as through the API: a new workflow emails no one
        # by surprise.
        "enabled": False,
        "actions": [],
    }
    return _editor(request, page, values, {}, workflow=None)


@router.post("/workflows/new")
def create_workflow(
    request: Request,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits(SECTION)),
) -> Response:
    def save(payload: dict[str, Any]) -> Workflow:
        data = _validated(page, WorkflowCreate, payload)
        return attempt(
            lambda: service.create_workflow(
                page.session, page.account, data, allow_private=_allow_private(request)
            )
        )

    return _save(request, page, form, None, save)


@router.get("/workflows/{workflow_id}/edit")
def edit_workflow(
    request: Request, workflow_id: str, page: PageContext = Depends(edits(SECTION))
) -> Response:
    workflow = service.get_workflow(page.session, page.account.id, workflow_id)
    return _editor(
        request, page, _saved_values(workflow, _user_emails(page)), {}, workflow=workflow
    )


@router.post("/workflows/{workflow_id}/edit")
def save_workflow(
    request: Request,
    workflow_id: str,
    form: FormData = Depends(form_data),
    page: PageContext = Depends(edits(SECTION)),
) -> Response:
    workflow = service.get_workflow(page.session, page.account.id, workflow_id)

    def save(payload: dict[str, Any]) -> Workflow:
        data = _validated(page, WorkflowUpdate, payload)
        return attempt(
            lambda: service.update_workflow(
                page.session, page.account, workflow, data, allow_private=_allow_private(request)
            )
        )

    return _save(request, page, form, workflow, save)


# --- a workflow's page -------------------------------------------------------------------------


def _enrollment_rows(
    page: PageContext, workflow: Workflow, enrollments: Sequence[WorkflowEnrollment]
) -> list[dict[str, Any]]:
    names = dict(
        page.session.execute(
            select(Subscription.id, Subscription.name).where(
                Subscription.account_id == page.account.id,
                Subscription.id.in_({e.record_id for e in enrollments}),
            )
        ).all()
    )
    total = len(workflow.actions or [])
    timezone = page.account.timezone
    return [
        {
            "enrollment": e,
            # None: the subscription was deleted since; its ID is all there is to show.
            "name": names.get(e.record_id),
            "status": page.gettext(ENROLLMENT_STATUSES.get(e.status, e.status)),
            "badge": ENROLLMENT_BADGES.get(e.status, "inactive"),
            "step": page.gettext("%(done)s of %(total)s")
            % {"done": min(e.step, total), "total": total},
            "next_run": page.fmt.datetime(e.next_run_at, timezone)
            if e.status == "active" and e.next_run_at
            else "—",
            "history": _history(page, e.history or []),
        }
        for e in enrollments
    ]


@router.get("/workflows/{workflow_id}")
def workflow_page(
    request: Request,
    workflow_id: str,
    cursor: Cursor = None,
    page: PageContext = Depends(reads(SECTION)),
) -> Response:
    workflow = service.get_workflow(page.session, page.account.id, workflow_id)
    enrollments, has_more, next_cursor = service.list_enrollments(
        page.session, workflow, record_id=None, status=None, limit=DEFAULT_LIMIT, cursor=cursor
    )
    custom = SUBSCRIPTIONS.custom_definitions(page.session, page.account.id)
    labels = _field_labels(page, custom)
    emails = _user_emails(page)
    secret = (
        service.webhook_secret(page.session, workflow) if service.has_webhook(workflow) else None
    )
    context = {
        "workflow": workflow,
        "trigger": describe_trigger(page, workflow.trigger, labels),
        "criteria": describe_criteria(
            page, workflow.criteria or [], SUBSCRIPTIONS.filter_properties(custom)
        ),
        "actions": [describe_action(page, a, labels, emails) for a in workflow.actions or []],
        "counts": service.enrollment_counts(page.session, [workflow.id])[workflow.id],
        "enrollments": _enrollment_rows(page, workflow, enrollments),
        "secret": secret,
        # On a plan without workflows even an enabled one does not run: say so.
        "notice": _plan_notice(page, adding=False),
        "next_url": page_url(request, cursor=next_cursor) if has_more else None,
        "first_url": page_url(request, cursor=None) if cursor else None,
    }
    return render(request, "workflows/workflow.html", context, headers=HEADERS if secret else None)


def _set_enabled(request: Request, page: PageContext, workflow_id: str, enabled: bool) -> Response:
    workflow = service.get_workflow(page.session, page.account.id, workflow_id)
    try:
        service.update_workflow(
            page.session,
            page.account,
            workflow,
            WorkflowUpdate(enabled=enabled),
            allow_private=_allow_private(request),
        )
    except Conflict as exc:
        page.session.rollback()
        return redirect(f"/workflows/{workflow_id}", flash=page.gettext(exc.message))
    page.session.commit()
    _ = page.gettext
    flash = _("The workflow was enabled.") if enabled else _("The workflow was disabled.")
    return redirect(f"/workflows/{workflow_id}", flash=flash)


@router.post("/workflows/{workflow_id}/enable")
def enable_workflow(
    request: Request, workflow_id: str, page: PageContext = Depends(edits(SECTION))
) -> Response:
    return _set_enabled(request, page, workflow_id, True)


@router.post("/workflows/{workflow_id}/disable")
def disable_workflow(
    request: Request, workflow_id: str, page: PageContext = Depends(edits(SECTION))
) -> Response:
    return _set_enabled(request, page, workflow_id, False)


@router.post("/workflows/{workflow_id}/delete")
def delete_workflow(workflow_id: str, page: PageContext = Depends(edits(SECTION))) -> Response:
    workflow = service.get_workflow(page.session, page.account.id, workflow_id)
    name = workflow.name
    service.delete_workflow(page.session, workflow)
    page.session.commit()
    message = page.gettext("Deleted the workflow “%(name)s”.") % {"name": name}
    return redirect("/workflows", flash=message)
