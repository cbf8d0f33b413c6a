"""Journeys API: load definitions (YAML or JSON), list, read, preview, schema."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery

from api.auth import principal_of, requires
from api.input_checks import UnsupportedMediaType
from api.openapi import anchor_parameter, query_parameters, request_body
from core import clock, identity
from core.errors import FieldError, Invalid
from core.schemas import Page
from journeys import services
from journeys.definition import json_schema
from journeys.schemas import (
    JourneyDetail,
    JourneyLoaded,
    JourneyOut,
    JourneySourceIn,
    VersionOut,
)

AnyRequest = Request[Any, Any, Any]
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


async def _source(request: AnyRequest) -> tuple[str, str]:
    """The YAML text from a YAML body or from ``{"source": ...}`` JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type in YAML_TYPES:
        try:
            return body.decode("utf-8"), request.headers.get("x-filename", "<upload>")
        except UnicodeDecodeError:
            raise Invalid("body is not UTF-8", [FieldError("body", "send UTF-8 text")]) from None
    if content_type == "application/json":
        try:
            data = msgspec.json.decode(body, type=JourneySourceIn)
        except msgspec.ValidationError as exc:
            raise Invalid(str(exc), [FieldError("body", str(exc))]) from None
        except msgspec.DecodeError:
            raise Invalid("body is not JSON", [FieldError("body", "send JSON or YAML")]) from None
        return data.source, data.filename
    raise UnsupportedMediaType(
        f"send the journey as application/yaml (the file) or application/json "
        f'({{"source": "..."}}); got {content_type or "no content type"}'
    )


class JourneyController(Controller):
    """``/api/v1/journeys``."""

    path = "/api/v1"
    tags = ["journeys"]

    @post(
        "/journeys",
        opt=requires("manager")
        | request_body(
            {
                "application/yaml": {
                    "type": "string",
                    "description": "A journey file (also application/x-yaml, text/yaml); "
                    "X-Filename names it in errors",
                },
                "application/json": JourneySourceIn,
            }
        ),
        responses={200: ResponseSpec(JourneyLoaded, description="Unchanged: no new version")},
        operation_id="loadJourney",
    )
    async def load(self, request: AnyRequest) -> Response[JourneyLoaded]:
        """Load a definition: 201 with a new version, or 200 when it is unchanged."""
        p = principal_of(request)
        source, filename = await _source(request)
        loaded = await services.load_journey(p.tenant, source, filename, p.user_id, p.api_key_id)
        body = JourneyLoaded.of(loaded.journey, loaded.version, loaded.created, loaded.validation)
        return Response(body, status_code=201 if loaded.created else 200)

    @get("/journeys", opt=requires("staff"))
    async def index(self, request: AnyRequest) -> Page[JourneyOut]:
        """All journeys of the organisation."""
        journeys = await services.list_journeys(principal_of(request).tenant)
        return Page(items=[JourneyOut.of(j) for j in journeys])

    @get("/journeys/{journey_key:str}", opt=requires("staff"))
    async def detail(self, request: AnyRequest, journey_key: FromPath[str]) -> JourneyDetail:
        """The current definition and every version."""
        tenant = principal_of(request).tenant
        journey, version, _ = await services.current_definition(tenant, journey_key)
        history = await services.versions(tenant, journey)
        return JourneyDetail(
            journey=JourneyOut.of(journey),
            definition=json.loads(version.definition),
            source=version.source,
            versions=[VersionOut.of(v) for v in history],
        )

    @get(
        "/journeys/{journey_key:str}/preview",
        opt=requires("staff") | query_parameters(anchor_parameter()),
    )
    async def preview(
        self,
        request: AnyRequest,
        journey_key: FromPath[str],
        timezone: FromQuery[str | None] = None,
        locale: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        """The timeline a customer would get (``?start=…&appointment=…&timezone=…``); an
        anchor not given is taken as now."""
        p = principal_of(request)
        _, version, definition = await services.current_definition(p.tenant, journey_key)
        org = await identity.organization_by_id(p.org_id)
        tz = services.parse_timezone(org.timezone if timezone is None else timezone)
        given = {k: v for k, v in request.query_params.items() if k in definition.anchors}
        anchors = services.parse_anchors(
            definition, given, clock.now(), field="query", all_default_to_now=True
        )
        steps = services.preview(definition, anchors, tz, locale, {"org_name": org.name})
        return {
            "journey": journey_key,
            "version": version.version,
            "timezone": tz.key,
            "anchors": {k: v.isoformat() for k, v in anchors.items()},
            "steps": steps,
        }

    @get("/journey-schema", opt=requires("staff"))
    async def schema(self) -> dict[str, Any]:
        """The JSON Schema of journey files, for editors."""
        return json_schema()
