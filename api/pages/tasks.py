"""The staff tasks page: open escalations, the most overdue first, each with the
customer's recent history and a one-click close (phone-first, keyboard accessible; the
form carries the pages' CSRF token)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from api.auth import principal_of, requires
from coaching import inbound, tasks
from core import clock
from core.errors import Conflict

AnyRequest = Request[Any, Any, Any]
DEFAULT_OUTCOME = "Handled"
PAGE_SIZE = 50


def _span(delta_seconds: float) -> str:
    """``3 h 20 min``, ``2 d 4 h``: a due time as staff read it on a phone."""
    minutes = int(abs(delta_seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


def _when(due: datetime, now: datetime) -> tuple[bool, str]:
    seconds = (due - now).total_seconds()
    if seconds < 0:
        return True, f"Overdue by {_span(seconds)}"
    return False, f"Due in {_span(seconds)}"


class TaskPages(Controller):
    """``/staff/tasks``: open tasks and the form that closes one."""

    path = "/staff/tasks"
    include_in_schema = False
    opt = requires("staff")

    @get("/")
    async def index(self, request: AnyRequest, closed: FromQuery[bool] = False) -> Template:
        """Open tasks, overdue first, with each customer's recent history."""
        p = principal_of(request)
        now = clock.now()
        items = []
        for task in await tasks.open_tasks(p.tenant, PAGE_SIZE):
            overdue, when = _when(clock.as_utc(task.due_at), now)
            history = (
                await tasks.customer_history(p.tenant, task.customer) if task.customer else None
            )
            items.append({"task": task, "overdue": overdue, "when": when, "history": history})
        return Template(
            "tasks.html",
            context={
                "principal": p,
                "items": items,
                "closed": closed,
                "now": now,
                "inbox": await inbound.open_inbox_count(p.tenant),
            },
        )

    @post("/{task_id:uuid}/close")
    async def close(
        self, request: AnyRequest, task_id: FromPath[UUID], data: URLEncodedBody[dict[str, str]]
    ) -> Redirect:
        """Close the task (one click: the outcome is optional) and go back to the list."""
        p = principal_of(request)
        text = (data.get("outcome") or "").replace("\x00", "").strip()
        outcome = text[:2000] or DEFAULT_OUTCOME
        # Closed by someone else meanwhile: the list shows it gone either way.
        with contextlib.suppress(Conflict):
            await tasks.close_task(p.tenant, task_id, outcome, p.user_id, p.api_key_id)
        return Redirect("/staff/tasks?closed=true", status_code=303)
