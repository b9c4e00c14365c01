"""Workflows (API.md "Workflows", SPEC §8): saving them, and what they may say.

A workflow is checked whole when it is saved: the trigger's status or property exists, the
criteria compile in the filter language, every action names things that exist (a property and
a value of its type, users of the account, a webhook URL that may be called), and every merge
field of a subject or body is one a subscription has — so a typo is a 422 naming it at save
time, never a failed email at send time. Workflows are plan-gated: the account's plan must
include them, and their number is limited by the plan (plans.limits.workflow_allowance).

Merge fields are rendered by one sandboxed Jinja environment (`render`): a template may read
the values it is given and nothing else of the installation.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cadency.accounts.models import Account, User
from cadency.crm.models import Contact
from cadency.kit import clock, signing
from cadency.kit.errors import Conflict, InvalidRequest
from cadency.kit.filters import parse_filter_groups
from cadency.kit.i18n import N_, Formatter, babel_locale
from cadency.kit.ids import new_id
from cadency.kit.pagination import paginate
from cadency.kit.repository import get_owned
from cadency.plans.limits import workflow_allowance
from cadency.properties import service as properties
from cadency.subscriptions.models import Subscription, SubscriptionStatus
from cadency.views.catalogs import catalog_for
from cadency.webhooks import service as webhooks
from cadency.workflows.models import Workflow, WorkflowEnrollment
from cadency.workflows.schemas import MAX_NAME, WorkflowCreate, WorkflowUpdate

OBJECT_TYPE = "subscriptions"
# However generous a plan, an installation runs at most this many per account.
MAX_WORKFLOWS = 300
SECRET_PURPOSE = "workflow-webhook-secret"
# Fields of a subscription whose change the "property changed" trigger hears of (the keys of a
# subscription.updated event's changes) besides its custom properties.
CHANGEABLE_FIELDS = (
    "name",
    "contact_id",
    "company_id",
    "payment_method_id",
    "billing_address",
    "next_payment_date",
    "payment_options",
    "owner_id",
)
# Built-in fields a "set property" action may set: the owner (a user, by ID or email) and name.
SETTABLE_FIELDS = ("owner_id", "name")
STATUSES = tuple(status.value for status in SubscriptionStatus)

# --- merge fields ------------------------------------------------------------------------------

# What a subject or body may read, besides `subscription.properties.NAME`.
MERGE_FIELDS = frozenset(
    {
        "subscription.id",
        "subscription.name",
        "subscription.status",
        "subscription.currency",
        "subscription.start_date",
        "subscription.end_date",
        "subscription.trial_end",
        "subscription.current_period_end",
        "subscription.next_payment_date",
        "subscription.next_payment_amount",
        "subscription.mrr",
        "contact.first_name",
        "contact.last_name",
        "contact.name",
        "contact.email",
        "account.name",
    }
)
_ROOTS = ("subscription", "contact", "account")
_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
MAX_RENDERED = 100_000  # characters of a rendered body


def _dotted(node: nodes.Node) -> str | None:
    """`a.b.c` of a chain of attribute reads (or constant-key item reads) on a name."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        inner = _dotted(node.node)
        return None if inner is None else f"{inner}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        inner = _dotted(node.node)
        return None if inner is None else f"{inner}.{node.arg.value}"
    return None


def _read_fields(tree: nodes.Node) -> tuple[set[str], set[str], bool]:
    """The dotted names a template reads, the names it assigns itself, and whether it reads
    an attribute of something that is no merge field (`''.__class__`)."""
    read: set[str] = set()
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    other = False

    def walk(node: nodes.Node) -> None:
        nonlocal other
        if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            path = _dotted(node)
            if path is not None:
                if not (isinstance(node, nodes.Name) and node.ctx != "load"):
                    read.add(path)
                return
            if not isinstance(node, nodes.Name):
                other = True
        for child in node.iter_child_nodes():
            walk(child)

    walk(tree)
    return read, assigned, other


def check_template(text: str, property_names: Iterable[str], param: str) -> None:
    """Refuse (422, naming `param`) a subject or body that does not parse, includes other
    templates, or reads a merge field a subscription does not have."""
    try:
        tree = _ENVIRONMENT.parse(text)
    except TemplateSyntaxError as exc:
        raise InvalidRequest(
            "The text cannot be read as a template (line %(lineno)s): %(detail)s",
            lineno=exc.lineno,
            detail=exc.message,
            param=param,
        ) from None
    if any(tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport))):
        raise InvalidRequest("A text cannot include or import other templates", param=param)
    custom = set(property_names)
    read, assigned, other = _read_fields(tree)
    if other:
        raise InvalidRequest(
            "A text reads merge fields only, such as {{ subscription.name }}", param=param
        )
    unknown: list[str] = []
    for path in sorted(read):
        root = path.split(".", 1)[0]
        if root in assigned and root not in _ROOTS:
            continue
        if path in MERGE_FIELDS:
            continue
        parts = path.split(".")
        if parts[:2] == ["subscription", "properties"] and len(parts) == 3 and parts[2] in custom:
            continue
        unknown.append(path)
    fields = ", ".join("{{ " + name + " }}" for name in unknown)
    if len(unknown) == 1:
        raise InvalidRequest("Unknown merge field %(fields)s", fields=fields, param=param)
    if unknown:
        raise InvalidRequest("Unknown merge fields %(fields)s", fields=fields, param=param)


@lru_cache(maxsize=512)
def _compiled(text: str) -> Template:
    # A workflow's texts are few and sent often: compiled once each, not for every email.
    return _ENVIRONMENT.from_string(text)


def render(text: str, context: Mapping[str, Any]) -> str:
    """A subject or body with its merge fields filled in. Raises ValueError when it cannot be
    (a field that has gone since it was saved, or the sandbox refusing something)."""
    try:
        rendered = _compiled(text).render(**context)
    except (UndefinedError, SecurityError, TemplateSyntaxError, TypeError) as exc:
        raise ValueError(f"The text could not be filled in: {exc}") from None
    return rendered[:MAX_RENDERED]


def _shown(value: Any, fmt: Formatter) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else "—"
    if isinstance(value, datetime | date):
        return fmt.date(value)
    if isinstance(value, Decimal | int):
        return fmt.number(value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def merge_context(
    account: Account,
    subscription: Subscription,
    contact: Contact | None,
    values: Mapping[str, Any],
    *,
    language: str,
    status_label: str,
) -> dict[str, Any]:
    """The values a subject or body reads, formatted for a reader of `language`: dates,
    numbers and money in its locale. Sensitive custom properties are given masked."""
    fmt = Formatter(babel_locale(language, account.locale))
    sub = subscription
    return {
        "subscription": {
            "id": sub.id,
            "name": sub.name,
            "status": status_label,
            "currency": sub.currency,
            "start_date": fmt.date(sub.start_date),
            "end_date": fmt.date(sub.end_date) if sub.end_date else "",
            "trial_end": fmt.date(sub.trial_end) if sub.trial_end else "",
            "current_period_end": fmt.date(sub.current_period_end)
            if sub.current_period_end
            else "",
            "next_payment_date": fmt.date(sub.next_payment_date) if sub.next_payment_date else "",
            "next_payment_amount": fmt.money(sub.next_payment_amount, sub.currency),
            "mrr": fmt.money(sub.mrr, sub.currency),
            "properties": {name: _shown(value, fmt) for name, value in values.items()},
        },
        "contact": {
            "first_name": (contact.first_name or "") if contact else "",
            "last_name": (contact.last_name or "") if contact else "",
            "name": contact.display_name if contact else "",
            "email": (contact.email or "") if contact else "",
        },
        "account": {"name": account.name},
    }


# --- checking a workflow ----------------------------------------------------------------------


def checked_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidRequest(N_("Give the workflow a name."), param="name")
    if len(cleaned) > MAX_NAME:
        raise InvalidRequest(
            "A workflow name is at most %(max_name)s characters long.",
            max_name=MAX_NAME,
            param="name",
        )
    return cleaned


def _checked_trigger(
    session: Session, account_id: int, trigger: Mapping[str, Any]
) -> dict[str, Any]:
    kind = trigger["type"]
    needs = {
        "subscription.status_changed": "status",
        "property_changed": "property",
        "payment_due_in": "days",
    }.get(kind)
    for name in ("status", "property", "days"):
        if name != needs and trigger.get(name) is not None:
            raise InvalidRequest(
                "A '%(kind)s' trigger takes no '%(name)s'",
                kind=kind,
                name=name,
                param=f"trigger.{name}",
            )
    if needs is not None and trigger.get(needs) is None:
        raise InvalidRequest(
            "A '%(kind)s' trigger needs '%(needs)s'",
            kind=kind,
            needs=needs,
            param=f"trigger.{needs}",
        )
    checked: dict[str, Any] = {"type": kind}
    if kind == "subscription.status_changed":
        if trigger["status"] not in STATUSES:
            raise InvalidRequest(
                "Unknown status '%(status)s'; one of %(statuses)s",
                status=trigger["status"],
                statuses=", ".join(STATUSES),
                param="trigger.status",
            )
        checked["status"] = trigger["status"]
    elif kind == "property_changed":
        name = trigger["property"]
        if name not in CHANGEABLE_FIELDS and name not in properties.definitions(
            session, account_id, OBJECT_TYPE
        ):
            raise InvalidRequest(
                "Unknown property '%(name)s' of subscriptions", name=name, param="trigger.property"
            )
        checked["property"] = name
    elif kind == "payment_due_in":
        checked["days"] = trigger["days"]
    return checked


def _checked_criteria(
    session: Session, account_id: int, criteria: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    groups = parse_filter_groups((criteria or {}).get("filter_groups") or [])
    if not groups:
        return []
    catalog = catalog_for(OBJECT_TYPE)
    assert catalog is not None
    # Criteria read every property: a sensitive one only decides who is enrolled.
    properties.check_filterable(session, account_id, OBJECT_TYPE, groups, view_sensitive=True)
    catalog.compile_filters(session, account_id, list(groups))
    return [group.model_dump(exclude_none=True) for group in groups]


def active_user_by_email(session: Session, account_id: int, email: str) -> User | None:
    return session.scalar(
        select(User).where(
            User.account_id == account_id,
            func.lower(User.email) == email.strip().lower(),
            User.is_active.is_(True),
        )
    )


def owner_user(session: Session, account_id: int, value: Any) -> User | None:
    """The user a "set owner" value names: their ID, or their email address."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        user = session.get(User, value)
        if user is None or user.account_id != account_id or not user.is_active:
            return None
        return user
    if isinstance(value, str):
        return active_user_by_email(session, account_id, value)
    return None


def _checked_actions(
    session: Session,
    account_id: int,
    actions: Sequence[Mapping[str, Any]],
    *,
    allow_private: bool,
) -> list[dict[str, Any]]:
    defined = properties.definitions(session, account_id, OBJECT_TYPE)
    checked: list[dict[str, Any]] = []
    for i, action in enumerate(actions):
        param = f"actions.{i}"
        kind = action["type"]
        if kind == "set_property":
            name = action["property"]
            value = action["value"]
            if name == "owner_id":
                if value is not None and owner_user(session, account_id, value) is None:
                    raise InvalidRequest(
                        "No active user '%(value)s' in this account to own subscriptions",
                        value=value,
                        param=f"{param}.value",
                    )
            elif name == "name":
                if not isinstance(value, str) or not value.strip() or len(value) > 255:
                    raise InvalidRequest(
                        "A subscription's name is text of 1 to 255 characters",
                        param=f"{param}.value",
                    )
            elif name in defined:
                try:
                    properties.check_value(defined[name], value)
                except InvalidRequest as exc:
                    raise InvalidRequest(exc.message, param=f"{param}.value") from None
            else:
                raise InvalidRequest(
                    "Unknown property '%(name)s' of subscriptions; a workflow sets a "
                    "custom property or one of %(settable_fields)s",
                    name=name,
                    settable_fields=", ".join(SETTABLE_FIELDS),
                    param=f"{param}.property",
                )
        elif kind in ("send_email", "send_internal_email"):
            check_template(action["subject"], defined, f"{param}.subject")
            check_template(action["body"], defined, f"{param}.body")
            recipients = action.get("to")
            if isinstance(recipients, list):
                for j, email in enumerate(recipients):
                    if active_user_by_email(session, account_id, email) is None:
                        raise InvalidRequest(
                            "'%(email)s' is not an active user of this account",
                            email=email,
                            param=f"{param}.to.{j}",
                        )
        elif kind == "webhook":
            try:
                webhooks.check_url(action["url"], allow_private=allow_private)
            except InvalidRequest as exc:
                raise InvalidRequest(exc.message, param=f"{param}.url") from None
        checked.append(dict(action))
    return checked


def check_allowed(session: Session, account: Account, *, adding: bool) -> None:
    """409 when the account's plan does not include workflows, or (`adding`) when it is at the
    number its plan allows."""
    allowance = workflow_allowance(session, account)
    if not allowance.allowed:
        raise Conflict(
            "Your plan (%(plan_name)s) does not include workflows; upgrade to a "
            "plan that does (Account & billing)",
            plan_name=allowance.plan_name,
        )
    if not adding:
        return
    limit = MAX_WORKFLOWS if allowance.limit is None else min(allowance.limit, MAX_WORKFLOWS)
    count = session.scalar(
        select(func.count()).select_from(Workflow).where(Workflow.account_id == account.id)
    )
    if (count or 0) >= limit:
        if allowance.limit is not None:
            raise Conflict(
                "An account on the %(plan_name)s plan has at most %(limit)s workflows; delete "
                "one or upgrade",
                plan_name=allowance.plan_name,
                limit=limit,
            )
        raise Conflict(
            "An account has at most %(limit)s workflows; delete one or upgrade", limit=limit
        )


# --- saving ------------------------------------------------------------------------------------


def create_workflow(
    session: Session, account: Account, data: WorkflowCreate, *, allow_private: bool
) -> Workflow:
    check_allowed(session, account, adding=True)
    now = clock.account_now(account)
    workflow = Workflow(
        id=new_id("wf"),
        account_id=account.id,
        name=checked_name(data.name),
        object_type=OBJECT_TYPE,
        enabled=data.enabled,
        trigger=_checked_trigger(session, account.id, data.trigger.model_dump()),
        criteria=_checked_criteria(
            session, account.id, data.criteria.model_dump() if data.criteria else None
        ),
        re_enroll=data.re_enroll,
        actions=_checked_actions(
            session,
            account.id,
            [a.model_dump() for a in data.actions],
            allow_private=allow_private,
        ),
        created_at=now,
        updated_at=now,
    )
    session.add(workflow)
    session.flush()
    return workflow


def update_workflow(
    session: Session,
    account: Account,
    workflow: Workflow,
    data: WorkflowUpdate,
    *,
    allow_private: bool,
) -> Workflow:
    """Change what was sent; a workflow turned on needs a plan that includes workflows.
    Enrollments already made go on with the actions as they now are, from the step they are
    at."""
    given = data.model_fields_set
    for name in ("name", "enabled", "trigger", "re_enroll", "actions"):
        if name in given and getattr(data, name) is None:
            raise InvalidRequest("'%(name)s' cannot be null", name=name, param=name)
    if data.enabled and not workflow.enabled:
        check_allowed(session, account, adding=False)
    if data.name is not None:
        workflow.name = checked_name(data.name)
    if data.trigger is not None:
        workflow.trigger = _checked_trigger(session, account.id, data.trigger.model_dump())
    if "criteria" in given:
        workflow.criteria = _checked_criteria(
            session, account.id, data.criteria.model_dump() if data.criteria else None
        )
    if data.re_enroll is not None:
        workflow.re_enroll = data.re_enroll
    if data.actions is not None:
        workflow.actions = _checked_actions(
            session,
            account.id,
            [a.model_dump() for a in data.actions],
            allow_private=allow_private,
        )
    if data.enabled is not None:
        workflow.enabled = data.enabled
    workflow.updated_at = clock.account_now(account)
    session.flush()
    return workflow


def get_workflow(session: Session, account_id: int, workflow_id: str) -> Workflow:
    return get_owned(session, Workflow, account_id, workflow_id, "workflow")


def all_workflows(session: Session, account_id: int) -> list[Workflow]:
    return list(
        session.scalars(
            select(Workflow)
            .where(Workflow.account_id == account_id)
            .order_by(func.lower(Workflow.name), Workflow.id)
        )
    )


def list_workflows(
    session: Session, account_id: int, *, limit: int, cursor: str | None
) -> tuple[Sequence[Workflow], bool, str | None]:
    query = select(Workflow).where(Workflow.account_id == account_id)
    return paginate(session, query, Workflow.id, limit=limit, cursor=cursor)


def delete_workflow(session: Session, workflow: Workflow) -> None:
    """Delete a workflow; its enrollments go with it (what they did stays on the records'
    timelines)."""
    session.query(WorkflowEnrollment).filter(WorkflowEnrollment.workflow_id == workflow.id).delete(
        synchronize_session=False
    )
    session.delete(workflow)
    session.flush()


def enrollment_counts(session: Session, workflow_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Enrollments per workflow and status."""
    counts: dict[str, dict[str, int]] = {wid: {} for wid in workflow_ids}
    if not workflow_ids:
        return counts
    rows = session.execute(
        select(WorkflowEnrollment.workflow_id, WorkflowEnrollment.status, func.count())
        .where(WorkflowEnrollment.workflow_id.in_(list(workflow_ids)))
        .group_by(WorkflowEnrollment.workflow_id, WorkflowEnrollment.status)
    )
    for workflow_id, status, count in rows:
        counts[workflow_id][status] = count
    return counts


def list_enrollments(
    session: Session,
    workflow: Workflow,
    *,
    record_id: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[WorkflowEnrollment], bool, str | None]:
    query = select(WorkflowEnrollment).where(WorkflowEnrollment.workflow_id == workflow.id)
    if record_id is not None:
        query = query.where(WorkflowEnrollment.record_id == record_id)
    if status is not None:
        query = query.where(WorkflowEnrollment.status == status)
    return paginate(session, query, WorkflowEnrollment.id, limit=limit, cursor=cursor)


def has_webhook(workflow: Workflow) -> bool:
    return any(action.get("type") == "webhook" for action in workflow.actions or [])


def webhook_secret(session: Session, workflow: Workflow) -> str:
    """The secret a workflow's webhook actions sign with (Standard Webhooks): derived from the
    installation secret and the workflow, never stored."""
    key = signing.derived_key(session, SECRET_PURPOSE, workflow.id)
    return "whsec_" + base64.b64encode(key).decode()
