"""REST endpoints of workflows (API.md "Workflows"). Workflows act on the account's records and
email its people and buyers, so they need a key with the super_admin scope."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from cadency.accounts.auth import ApiContext, requires
from cadency.config import Settings
from cadency.kit.endpoints import DEFAULT_PAGE, Cursor, Limit
from cadency.kit.schemas import DeletedResponse, ListResponse
from cadency.workflows import service
from cadency.workflows.models import Workflow
from cadency.workflows.schemas import EnrollmentOut, WorkflowCreate, WorkflowOut, WorkflowUpdate

router = APIRouter(tags=["workflows"])
MANAGE = "super_admin"
_INTRO = "Needs a key with the super_admin scope. "


def _allow_private(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.webhook_allow_private


def _out(ctx: ApiContext, workflow: Workflow) -> WorkflowOut:
    counts = service.enrollment_counts(ctx.session, [workflow.id])[workflow.id]
    secret = (
        service.webhook_secret(ctx.session, workflow) if service.has_webhook(workflow) else None
    )
    return WorkflowOut.of(workflow, counts, secret)


@router.post(
    "/workflows",
    response_model=WorkflowOut,
    description=_INTRO + "A workflow: a trigger, optional enrollment criteria (filter "
    "groups), re-enrollment on or off, and actions in order. Everything it names is checked "
    "now: an unknown status, property, user, merge field or a refused webhook URL is a 422 "
    "naming it. 409 when the account's plan does not include workflows or allows no more.",
)
def create_workflow(
    body: WorkflowCreate, request: Request, ctx: ApiContext = Depends(requires(MANAGE))
) -> WorkflowOut:
    workflow = service.create_workflow(
        ctx.session, ctx.account, body, allow_private=_allow_private(request)
    )
    ctx.session.commit()
    return _out(ctx, workflow)


@router.get("/workflows", response_model=ListResponse[WorkflowOut])
def list_workflows(
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
    ctx: ApiContext = Depends(requires(MANAGE)),
) -> ListResponse[WorkflowOut]:
    rows, has_more, next_cursor = service.list_workflows(
        ctx.session, ctx.account.id, limit=limit, cursor=cursor
    )
    counts = service.enrollment_counts(ctx.session, [w.id for w in rows])
    return ListResponse(
        data=[
            WorkflowOut.of(
                w,
                counts[w.id],
                service.webhook_secret(ctx.session, w) if service.has_webhook(w) else None,
            )
            for w in rows
        ],
        has_more=has_more,
        next_cursor=next_cursor,
    )


@router.get("/workflows/{workflow_id}", response_model=WorkflowOut)
def get_workflow(workflow_id: str, ctx: ApiContext = Depends(requires(MANAGE))) -> WorkflowOut:
    return _out(ctx, service.get_workflow(ctx.session, ctx.account.id, workflow_id))


@router.patch(
    "/workflows/{workflow_id}",
    response_model=WorkflowOut,
    description=_INTRO + "Change what is sent; enrollments under way go on from the step "
    "they are at with the actions as they now are. Turning a workflow on needs a plan that "
    "includes workflows (else 409).",
)
def update_workflow(
    workflow_id: str,
    body: WorkflowUpdate,
    request: Request,
    ctx: ApiContext = Depends(requires(MANAGE)),
) -> WorkflowOut:
    workflow = service.get_workflow(ctx.session, ctx.account.id, workflow_id)
    service.update_workflow(
        ctx.session, ctx.account, workflow, body, allow_private=_allow_private(request)
    )
    ctx.session.commit()
    return _out(ctx, workflow)


@router.delete("/workflows/{workflow_id}", response_model=DeletedResponse)
def delete_workflow(
    workflow_id: str, ctx: ApiContext = Depends(requires(MANAGE))
) -> DeletedResponse:
    workflow = service.get_workflow(ctx.session, ctx.account.id, workflow_id)
    service.delete_workflow(ctx.session, workflow)
    ctx.session.commit()
    return DeletedResponse(id=workflow_id, object="workflow")


@router.get(
    "/workflows/{workflow_id}/enrollments",
    response_model=ListResponse[EnrollmentOut],
    description=_INTRO + "The records enrolled in the workflow, newest first: the step "
    "each is at (how many actions are done), when the next is due (account clock), and "
    "what each step did.",
)
def list_enrollments(
    workflow_id: str,
    record_id: Annotated[str | None, Query(max_length=40)] = None,
    status: Literal["active", "completed", "failed"] | None = None,
    limit: Limit = DEFAULT_PAGE,
    cursor: Cursor = None,
    ctx: ApiContext = Depends(requires(MANAGE)),
) -> ListResponse[EnrollmentOut]:
    workflow = service.get_workflow(ctx.session, ctx.account.id, workflow_id)
    rows, has_more, next_cursor = service.list_enrollments(
        ctx.session, workflow, record_id=record_id, status=status, limit=limit, cursor=cursor
    )
    return ListResponse(
        data=[EnrollmentOut.of(e) for e in rows], has_more=has_more, next_cursor=next_cursor
    )
