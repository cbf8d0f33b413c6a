"""The OpenAPI document says what the routes do: roles, problems, bounds and bodies."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import Org


@pytest.fixture(scope="module")
async def document(client: Any) -> dict[str, Any]:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "responses" in op
    ]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


async def test_every_api_route_states_its_role_and_its_problems(
    document: dict[str, Any],
) -> None:
    for method, path, op in operations(document):
        # (/readyz answers 503 with its readiness report, not a problem)
        problems = {s: r for s, r in op["responses"].items() if "400" <= s < "500"}
        for status, response in problems.items():
            assert list(response["content"]) == ["application/problem+json"], (path, status)
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}
        if path.startswith("/api/"):
            role = op["x-required-role"]
            assert role in ("staff", "manager", "admin") and role in op["description"]
            assert "401" in problems, path
            assert role == "staff" or "403" in problems, path
            assert "security" not in op  # the document's default: the API key
        else:
            assert op["security"] == [] and "Public" in op["description"], path
        if "{" in path:
            assert "404" in problems, (method, path)
        if "requestBody" in op:
            assert {"413", "415", "422"} <= set(problems), (method, path)
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])


async def test_operation_ids_are_named_for_people_and_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i) for i in ids), ids
    assert {
        "listCustomers",
        "createCustomer",
        "getCustomer",
        "updateCustomer",
        "eraseCustomer",
        "listCustomerConsents",
        "voidSlip",
        "loadJourney",
        "previewJourney",
        "getMe",
        "getHealthz",
    } <= set(ids)


async def test_bounds_bodies_and_formats_are_declared(document: dict[str, Any]) -> None:
    from core.pagination import MAX_LIMIT

    paths = document["paths"]
    params = {p["name"]: p for p in paths["/api/v1/slips"]["get"]["parameters"]}
    assert params["limit"]["schema"]["minimum"] == 1
    assert params["limit"]["schema"]["maximum"] == MAX_LIMIT
    assert params["cursor"]["schema"]["pattern"]
    assert params["since"]["schema"]["format"] == "date-time"
    load = paths["/api/v1/journeys"]["post"]["requestBody"]
    assert load["required"] and {"application/yaml", "application/json"} <= set(load["content"])
    source = resolve(document, load["content"]["application/json"]["schema"])
    assert source["required"] == ["source"] and source["additionalProperties"] is False
    preview = {
        p["name"]: p for p in paths["/api/v1/journeys/{journey_key}/preview"]["get"]["parameters"]
    }
    anchors = preview["anchors"]
    assert anchors["style"] == "form" and anchors["explode"] is True
    assert anchors["schema"]["additionalProperties"]["format"] == "date-time"
    user = resolve(
        document,
        paths["/api/v1/users"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    )
    assert user["additionalProperties"] is False
    assert user["properties"]["email"]["format"] == "email"
    ready = paths["/readyz"]["get"]["responses"]
    assert "503" in ready
    text = str(document)
    assert "Validation Exception" not in text and "status_code" not in text


async def test_options_lists_every_method_of_the_path(client: Any, org: Org) -> None:
    for path, methods in (
        ("/api/v1/api-keys", {"GET", "POST", "OPTIONS"}),
        ("/api/v1/customers", {"GET", "POST", "OPTIONS"}),
        ("/api/v1/slips/00000000-0000-4000-8000-000000000000", {"GET", "PATCH", "OPTIONS"}),
    ):
        r = await client.options(path, headers=org.auth())
        assert r.status_code == 204
        assert set(r.headers["allow"].split(", ")) == methods, path


async def test_metrics_are_documented_as_text(client: Any, document: dict[str, Any]) -> None:
    content = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]
    r = await client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
