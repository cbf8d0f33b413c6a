"""The Litestar application factory."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from litestar import Litestar, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api import observability, openapi
from api.auth import CSRF_CHECKED, LOGIN_PATHS, PUBLIC_PATHS, AuthMiddleware, LoginRequired
from api.controllers.advisories import AdvisoryController
from api.controllers.countermeasures import CountermeasureController
from api.controllers.customers import CustomerController
from api.controllers.enrollments import EnrollmentController
from api.controllers.health import HealthController, MetricsController
from api.controllers.identity import IdentityController
from api.controllers.inbox import InboxController
from api.controllers.journeys import JourneyController
from api.controllers.nudges import NudgeController
from api.controllers.privacy import PrivacyController
from api.controllers.rankings import RankingController
from api.controllers.slips import SlipController
from api.controllers.tasks import TaskController
from api.controllers.webhooks import WebhookController
from api.input_checks import CheckedRequest, RefuseNul
from api.pages.admin import AdminPages
from api.pages.auth import AccountPages, AuthPages
from api.pages.customer_portal import CustomerPortal
from api.pages.customers import CustomerPages
from api.pages.dashboard_panels import PanelPages
from api.pages.dashboards import PLOTLY_DIR, DashboardPages
from api.pages.outbox import OutboxPages
from api.pages.staff import StaffPages
from api.pages.tasks import TaskPages
from api.pages.unsubscribe import UnsubscribePages
from api.problems import EXCEPTION_HANDLERS
from coaching import outbox as _outbox  # noqa: F401 - installs the step companion
from core import db
from core.keys import master_key
from core.logs import configure_logging
from settings import Settings, get_settings

HERE = Path(__file__).parent
SWAGGER = "/static/swagger"
log = logging.getLogger("slipguard.app")


def session_secret(settings: Settings) -> bytes:
    """The key that seals session cookies (see :func:`core.keys.master_key`)."""
    return master_key(settings)


def _login_redirect(request: Request[Any, Any, Any], _: LoginRequired) -> Response[Any]:
    return Redirect(f"/login?next={request.url.path}", status_code=303)


def _complete_allow_headers(app: Litestar) -> None:
    """Make each OPTIONS answer list every method of its path.

    Litestar builds a path's OPTIONS handler with the first route object made for it, and
    merges the path's other handlers into a new one: ``Allow`` then named only the first
    handler's methods (``OPTIONS, POST`` for a path that also serves GET).
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        handler = route.route_handler_map["OPTIONS"][0]
        for cell in getattr(handler.fn, "__closure__", None) or ():
            made_for = cell.cell_contents
            if isinstance(made_for, HTTPRoute) and made_for is not route:
                made_for.methods = route.methods


def create_app(
    settings: Settings | None = None,
    *,
    embedded_worker: bool | None = None,
    scheduler: bool | None = None,
) -> Litestar:
    """Build the application.

    ``embedded_worker`` (default: when no broker URL is set) runs Dramatiq worker threads
    and, unless ``scheduler`` is false (default: ``SLIPGUARD_SCHEDULER_EMBEDDED``), the
    scheduler loop inside this process: the one-process embedded shape.
    """
    settings = settings or get_settings()
    configure_logging(settings.server)
    if embedded_worker is None:
        embedded_worker = settings.broker.kind == "memory"
    if scheduler is None:
        scheduler = settings.scheduler.embedded
    secret = session_secret(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        from api.runtime import EmbeddedRuntime

        await db.start_pool(settings.database)
        runtime = EmbeddedRuntime(settings, scheduler) if embedded_worker else None
        if runtime:
            await runtime.start(asyncio.get_running_loop())
        # Everything alive now (modules, routes, journey definitions) lives as long as the
        # process: moving it out of the collector's generations keeps full collections short,
        # which showed up as the slowest requests under load.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if runtime:
                await runtime.stop()
            await db.close_pool()

    route_handlers: list[Any] = [
        HealthController,
        IdentityController,
        CustomerController,
        JourneyController,
        EnrollmentController,
        SlipController,
        NudgeController,
        InboxController,
        AdvisoryController,
        TaskController,
        WebhookController,
        RankingController,
        CountermeasureController,
        PrivacyController,
        AuthPages,
        AccountPages,
        StaffPages,
        TaskPages,
        CustomerPages,
        AdminPages,
        OutboxPages,
        UnsubscribePages,
        CustomerPortal,
        DashboardPages,
        PanelPages,
        create_static_files_router(
            path="/static", directories=[HERE / "static"], include_in_schema=False
        ),
        create_static_files_router(
            path="/static/plotly", directories=[PLOTLY_DIR], include_in_schema=False
        ),
        create_static_files_router(
            path=SWAGGER, directories=[swagger_ui_bundle.swagger_ui_path], include_in_schema=False
        ),
    ]
    middleware: list[Any] = [
        RefuseNul,
        CookieBackendConfig(
            secret=secret,
            key="slipguard_session",
            secure=settings.server.secure_cookies,
            httponly=True,
            samesite="lax",
            max_age=12 * 3600,
            exclude=["^/api/", *PUBLIC_PATHS],
        ).middleware,
        DefineMiddleware(AuthMiddleware, exclude=[*PUBLIC_PATHS, *LOGIN_PATHS]),
    ]
    if settings.server.metrics_enabled:
        route_handlers.append(MetricsController)
    app = Litestar(
        route_handlers=route_handlers,
        middleware=middleware,
        lifespan=[lifespan],
        exception_handlers={**EXCEPTION_HANDLERS, LoginRequired: _login_redirect},
        csrf_config=CSRFConfig(
            secret=secret.hex(),
            cookie_name="slipguard_csrf",
            cookie_secure=settings.server.secure_cookies,
            exclude=["^/api/", *(p for p in PUBLIC_PATHS if p not in CSRF_CHECKED)],
        ),
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(
            title="Slipguard API",
            version="1",
            description="Customer-error prevention: journeys, slips, nudges and rankings.",
            path="/schema",
            use_handler_docstrings=True,
            render_plugins=[
                # The API reference works without internet: its scripts and styles come
                # from the installed swagger-ui bundle, not a CDN.
                SwaggerRenderPlugin(
                    js_url=f"{SWAGGER}/swagger-ui-bundle.js",
                    css_url=f"{SWAGGER}/swagger-ui.css",
                    standalone_preset_js_url=f"{SWAGGER}/swagger-ui-standalone-preset.js",
                    favicon=f"<link rel='icon' href='{SWAGGER}/favicon-32x32.png'>",
                )
            ],
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="http", scheme="bearer", description="An API key: Bearer sg_…"
                    )
                }
            ),
            security=[{"apiKey": []}],
        ),
        request_max_body_size=settings.server.max_body_bytes,
        request_class=CheckedRequest,
        debug=False,
        logging_config=None,  # configure_logging() above owns the handlers
    )
    openapi.install(app)
    _complete_allow_headers(app)
    return observability.install(app, metrics=settings.server.metrics_enabled)
