"""An OpenAPI document that tells the truth, refined in one place from what the routes say.

Litestar generates the document from the route handlers; this module then states, for every
operation, what the code really does, so a new route gets it without declaring anything:

- its role (``opt=requires("manager")``) as ``x-required-role`` and a sentence of the
  description; a route without one is public and says so with ``security: []``;
- the problems it can answer, always ``application/problem+json`` with the ``Problem``
  schema: 401 (and 403 above the staff role) for a role, 404 for an id in the path, 422 for
  parameters or a body, and 400/413/415 for a JSON body. Statuses only the domain knows
  (409, 403 for a staff route, 404 for an id in a body, 429) are declared on the route with
  ``opt=requires("staff") | may_answer(409)``;
- request bodies read by hand (``opt=... | request_body({...})``), e.g. YAML or JSON;
- schemas as validated: ``additionalProperties: false`` on bodies that refuse unknown
  fields, ``format: email`` on email fields, no NUL in any text input, ``limit`` and
  ``cursor`` as the pagination accepts them, times within the accepted years;
- operation ids named for people (``listCustomers``, ``voidSlip``), from method and path
  (a handler's own ``operation_id=`` wins).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.routes import HTTPRoute

from api.auth import ROLE_OPT
from api.problems import PROBLEM_JSON, STATUS_TITLES
from core import clock
from core.clock import EARLIEST_YEAR, LATEST_YEAR
from core.pagination import CURSOR_PATTERN, MAX_LIMIT
from journeys.customers.forms import zones

PROBLEMS_OPT = "slipguard_problems"
BODY_OPT = "slipguard_request_body"
QUERY_OPT = "slipguard_query"
ROLE_EXTENSION = "x-required-role"
NO_NUL = "^[^\\u0000]*$"
# The years an instant may be written in (``core.clock.in_range``).
YEARS = "|".join(str(y) for y in range(EARLIEST_YEAR // 100, LATEST_YEAR // 100))
TIME_PATTERN = f"^({YEARS})[0-9]{{2}}-"
ROLE_ORDER = "staff < manager < admin"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem: what went wrong, and for invalid input each field.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "line": {"type": "integer"},
                    "source": {"type": "string"},
                },
            },
        },
    },
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    429: {
        "Retry-After": {
            "schema": {"type": "integer", "minimum": 1},
            "description": "Seconds to wait before trying again",
        }
    },
}
WHY: dict[int, str] = {
    400: "The body is not valid JSON",
    401: "No API key, or an unknown or revoked one",
    403: "The credential's role is too low, or the action is not the caller's to take",
    404: "No such object in the caller's organisation",
    409: "The request conflicts with the object's state",
    413: "The body is larger than the server accepts",
    415: "The body is not in a format this operation reads",
    422: "A parameter or field is invalid; each one is named in errors",
    429: "Too many attempts; wait for Retry-After seconds",
    503: "A dependency is unavailable",
}


def may_answer(*statuses: int) -> dict[str, tuple[int, ...]]:
    """Route options declaring problem statuses only the domain knows, e.g. 409."""
    return {PROBLEMS_OPT: statuses}


def request_body(content: dict[str, Any], required: bool = True) -> dict[str, Any]:
    """Route options declaring a body the handler reads itself: media type → a struct type
    (its JSON schema) or a JSON schema dict."""
    return {BODY_OPT: (content, required)}


def query_parameters(*parameters: dict[str, Any]) -> dict[str, Any]:
    """Route options declaring query parameters the handler reads itself (OpenAPI
    parameter objects)."""
    return {QUERY_OPT: parameters}


def anchor_parameter() -> dict[str, Any]:
    """The anchors of a journey as query parameters (``?start=…&appointment=…``): their
    names depend on the journey, each a time within ANCHOR_WINDOW of now."""
    return {
        "name": "anchors",
        "in": "query",
        "style": "form",
        "explode": True,
        "required": False,
        "description": "The journey's anchors by name, e.g. start=…&appointment=…, each an "
        "RFC 3339 time with an offset within 20 years of now; names the journey does not "
        "use are ignored",
        "schema": {
            "type": "object",
            "additionalProperties": {
                "type": "string",
                "format": "date-time",
                "pattern": _anchor_pattern(),
            },
        },
    }


def _anchor_pattern() -> str:
    """Times written in the years safely inside the anchor window around now (the window
    is checked again on every request)."""
    year = clock.now().year
    margin = clock.ANCHOR_WINDOW.days // 366 - 1
    years = "|".join(str(y) for y in range(year - margin, year + margin + 1))
    return f"^({years})-"


def install(app: Litestar) -> None:
    """Serve the refined document at /schema/openapi.json (and to the API reference)."""
    plugin = app.plugins.get(OpenAPIPlugin)
    plugin.__class__ = _TruthfulOpenAPIPlugin


class _TruthfulOpenAPIPlugin(OpenAPIPlugin):
    """Litestar's plugin, refining the document once when it is first asked for."""

    __slots__ = ()

    def provide_openapi_schema(self) -> dict[str, Any]:
        if not self._openapi_schema:
            self._openapi_schema = refine(self.provide_openapi().to_schema(), self.app)
        return self._openapi_schema


def _handlers(app: Litestar) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for method, (handler, _) in route.route_handler_map.items():
                found[(route.path_format or "/", method.lower())] = handler
    return found


def refine(schema: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """The generated document, made to say what the code does (see the module's doc)."""
    handlers = _handlers(app)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    strict = _strict_structs()
    for name, component in components.items():
        if name in strict:
            _refine_input(component, components)
    _drop_examples(schema)
    taken: set[str] = set()
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            handler = handlers.get((path, method))
            if handler is None or not isinstance(operation, dict):
                continue
            _refine_operation(path, method, operation, handler, components)
            operation["operationId"] = _unique(
                handler.operation_id
                if isinstance(handler.operation_id, str)
                else operation_id(method, path),
                taken,
            )
    return schema


def _refine_operation(
    path: str, method: str, operation: dict[str, Any], handler: Any, components: dict[str, Any]
) -> None:
    opt = handler.opt
    role = opt.get(ROLE_OPT)
    declared = opt.get(BODY_OPT)
    if declared is not None:
        content, required = declared
        operation["requestBody"] = {
            "required": required,
            "content": {
                media: {"schema": _schema_of(kind, components)} for media, kind in content.items()
            },
        }
    body = operation.get("requestBody")
    if opt.get(QUERY_OPT):
        operation.setdefault("parameters", []).extend(opt[QUERY_OPT])
    parameters = operation.get("parameters", [])
    for parameter in parameters:
        _refine_parameter(parameter)
    statuses = set(opt.get(PROBLEMS_OPT, ()))
    if role is not None:
        statuses.add(401)
        if role != "staff":
            statuses.add(403)
        operation[ROLE_EXTENSION] = role
        sentence = f"Requires an API key with the {role} role or higher ({ROLE_ORDER})."
    else:
        operation["security"] = []
        sentence = "Public: no credentials needed."
    if handler.summary is None:
        doc = (handler.fn.__doc__ or "").strip()
        if doc:
            first = re.split(r"(?<=[.;])\s|\n\n", doc)[0].rstrip(".;")
            operation["summary"] = " ".join(first.split())
    operation["description"] = " ".join(
        part for part in (operation.get("description", "").strip(), sentence) if part
    )
    if "{" in path:
        statuses.add(404)
    if any(p.get("in") == "query" for p in parameters):
        statuses.add(422)
    if body is not None:
        statuses |= {413, 422}
        if declared is None or any(m.endswith("json") for m in body["content"]):
            statuses.add(400)
        statuses.add(415)
    responses = operation.setdefault("responses", {})
    # Litestar's default 400 describes its own exception shape, which no client gets.
    if "400" in responses and "Validation Exception" in str(responses["400"]):
        del responses["400"]
    for status in sorted(statuses):
        responses.setdefault(str(status), _problem_response(status))


def _drop_examples(node: Any) -> None:
    """Remove the example values Litestar invents for response types (random strings and
    numbers that no response ever holds); no route states real ones."""
    if isinstance(node, dict):
        node.pop("examples", None)
        for value in node.values():
            _drop_examples(value)
    elif isinstance(node, list):
        for value in node:
            _drop_examples(value)


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": WHY.get(status, STATUS_TITLES.get(status, "Error")),
        "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def _schema_of(kind: Any, components: dict[str, Any]) -> dict[str, Any]:
    if isinstance(kind, dict):
        return kind
    (ref,), defs = msgspec.json.schema_components(
        [kind], ref_template="#/components/schemas/{name}"
    )
    strict = _strict_structs()
    for name, component in defs.items():
        if name not in components:
            components[name] = component
            if name in strict:
                _refine_input(component, components)
    return ref


def _refine_parameter(parameter: dict[str, Any]) -> None:
    name = parameter.get("name")
    schema = parameter.get("schema", {})
    variants = schema.get("oneOf", [])
    if parameter.get("in") != "body" and {"type": "null"} in variants and len(variants) == 2:
        # A query string has no null: an optional parameter is simply left out.
        (kept,) = [v for v in variants if v != {"type": "null"}]
        outer = {k: v for k, v in schema.items() if k != "oneOf"}
        schema = parameter["schema"] = {**kept, **outer}
    if name == "limit":
        for variant in _variants(schema):
            if variant.get("type") == "integer":
                variant.update(minimum=1, maximum=MAX_LIMIT)
    elif name == "timezone":
        for variant in _variants(schema):
            if variant.get("type") == "string":
                variant["enum"] = sorted(zones())
    elif name == "cursor":
        for variant in _variants(schema):
            if variant.get("type") == "string":
                variant["pattern"] = CURSOR_PATTERN
    for variant in _variants(schema):
        _refine_string(str(name), variant)


def _refine_input(component: dict[str, Any], components: dict[str, Any]) -> None:
    """A body that refuses unknown fields, with its text fields as they are validated."""
    if component.get("type") == "object":
        component["additionalProperties"] = False
    for name, prop in component.get("properties", {}).items():
        _into_variants(prop)
        for variant in _walk(prop):
            _refine_string(name, variant)


STRING_KEYWORDS = ("pattern", "format", "enum", "minLength", "maxLength")


def _into_variants(schema: dict[str, Any]) -> None:
    """Constraints a field documents on a nullable value belong to its non-null variant
    (``enum`` beside ``oneOf`` would refuse the null)."""
    variants = [v for v in schema.get("oneOf", []) if v.get("type") == "string"]
    moved = {k: schema.pop(k) for k in STRING_KEYWORDS if k in schema}
    for variant in variants:
        variant.update(moved)
    if moved and not variants:
        schema.update(moved)
    others = [v for v in schema.get("oneOf", []) if v.get("type") != "string"]
    if len(variants) == 1 and others == [{"type": "null"}]:
        # A nullable text as one schema: ``type: [string, null]``.
        (text,) = variants
        del schema["oneOf"]
        schema.update(text, type=["string", "null"])
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]


def _refine_string(name: str, schema: dict[str, Any]) -> None:
    kind = schema.get("type")
    if (kind != "string" and not (isinstance(kind, list) and "string" in kind)) or (
        "enum" in schema
    ):
        return
    form = schema.get("format")
    if form == "date-time":
        schema.setdefault("pattern", TIME_PATTERN)
    elif form is None:
        if name == "email" or name.endswith("_email"):
            schema["format"] = "email"
        elif "pattern" not in schema:
            schema["pattern"] = NO_NUL


def _variants(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield schema
    for key in ("oneOf", "anyOf"):
        for variant in schema.get(key, []):
            yield from _variants(variant)


def _walk(schema: Any) -> Iterator[dict[str, Any]]:
    """Every schema nested in ``schema`` that is not a reference (those are refined as
    components): variants, array items and map values."""
    if not isinstance(schema, dict) or "$ref" in schema:
        return
    yield schema
    for key in ("oneOf", "anyOf", "allOf"):
        for variant in schema.get(key, []):
            yield from _walk(variant)
    yield from _walk(schema.get("items"))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"])


def _strict_structs() -> set[str]:
    """Names of the structs that refuse unknown fields (request bodies)."""
    names: set[str] = set()
    pending: list[type] = [msgspec.Struct]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        config = getattr(cls, "__struct_config__", None)
        if config is not None and config.forbid_unknown_fields:
            names.add(cls.__name__)
    return names


_VERBS = {"get": "get", "post": "create", "patch": "update", "put": "replace", "delete": "delete"}


def operation_id(method: str, path: str) -> str:
    """A name for people: ``GET /api/v1/customers`` → ``listCustomers``, ``GET …/{id}`` →
    ``getCustomer``, ``POST …/{id}/erase`` → ``eraseCustomer``, ``GET …/{id}/consents`` →
    ``listCustomerConsents``, ``GET /api/v1/me`` → ``getMe``."""
    parts = [p for p in path.strip("/").split("/") if p]
    if parts[:2] == ["api", "v1"]:
        parts = parts[2:]
    words = [p for p in parts if not p.startswith("{")]
    if not words:
        return method + "Root"
    last_is_param = parts[-1].startswith("{")
    after_param = len(parts) > 1 and parts[-2].startswith("{")
    last = words[-1]
    if not last_is_param and after_param and not last.endswith("s"):
        # An action on an object: POST /slips/{id}/void → voidSlip
        return _camel([last, *[_singular(w) for w in words[:-1]]])
    owners = [_singular(w) for w in words[:-1]]
    if last_is_param:
        return _camel([_VERBS.get(method, method), *owners, _singular(last)])
    if last.endswith("s"):
        if method == "get":
            return _camel(["list", *owners, last])
        return _camel([_VERBS.get(method, method), *owners, _singular(last)])
    return _camel([_VERBS.get(method, method), *owners, last])


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"  # advisories → advisory
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _camel(words: list[str]) -> str:
    pieces = [p for w in words for p in re.split(r"[-_.]", w) if p]
    return pieces[0].lower() + "".join(p[:1].upper() + p[1:] for p in pieces[1:])


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}{n}", n + 1
    taken.add(candidate)
    return candidate
