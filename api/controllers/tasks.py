"""Staff tasks: ``/api/v1/tasks`` — escalations to handle within the service standard."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import principal_of, requires
from api.openapi import may_answer
from coaching import tasks
from coaching.schemas import TaskCloseIn, TaskOut
from core import clock
from core.schemas import Page

AnyRequest = Request[Any, Any, Any]


class TaskController(Controller):
    """``/api/v1/tasks``."""

    path = "/api/v1/tasks"
    tags = ["tasks"]

    @get("/", opt=requires("staff"))
    async def index(
        self,
        request: AnyRequest,
        open: FromQuery[bool | None] = None,
        overdue: FromQuery[bool] = False,
        mine: FromQuery[bool] = False,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
    ) -> Page[TaskOut]:
        """Tasks in the order they were opened: ``open=true`` only open ones (false: only
        closed), ``overdue=true`` open past their due time, ``mine=true`` assigned to the
        calling user (an API key has no tasks of its own)."""
        p = principal_of(request)
        now = clock.now()
        f = tasks.TaskFilter(open, overdue, p.user_id, mine)
        rows, next_cursor = await tasks.list_tasks(p.tenant, f, cursor, limit, now)
        return Page(items=[TaskOut.of(t, now) for t in rows], next_cursor=next_cursor)

    @get("/{task_id:uuid}", opt=requires("staff"))
    async def detail(self, request: AnyRequest, task_id: FromPath[UUID]) -> TaskOut:
        """One task."""
        task = await tasks.get_task(principal_of(request).tenant, task_id)
        return TaskOut.of(task, clock.now())

    @post("/{task_id:uuid}/close", opt=requires("staff") | may_answer(409), status_code=200)
    async def close(
        self, request: AnyRequest, task_id: FromPath[UUID], data: JSONBody[TaskCloseIn]
    ) -> TaskOut:
        """Close an open task with its outcome; a closed task answers 409."""
        p = principal_of(request)
        task = await tasks.close_task(p.tenant, task_id, data.outcome, p.user_id, p.api_key_id)
        return TaskOut.of(task, clock.now())
