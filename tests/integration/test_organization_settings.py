"""An organisation's SMS sender and contact details: set at ``init`` or by an admin."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from core.tables import Organization
from tests.conftest import Org
from tests.factories import assert_problem, run

SID = "MG" + "ab" * 16


async def test_admin_sets_sender_and_contacts_others_cannot(client: Any, org: Org) -> None:
    body = {
        "sms_from": "+14155550123",
        "messaging_service_sid": SID,
        "contact_phone": "+1 415 555 0100",
        "contact_email": "help@clinic.example",
        "postal_address": "1 River Road, Springfield",
    }
    r = await client.patch("/api/v1/organization", json=body, headers=org.auth("admin"))
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in body} == body
    assert (await client.get("/api/v1/organization", headers=org.auth("staff"))).json()[
        "postal_address"
    ] == "1 River Road, Springfield"
    for role in ("staff", "manager"):
        refused = await client.patch(
            "/api/v1/organization", json={"name": "X"}, headers=org.auth(role)
        )
        assert refused.status_code == 403
    # Clearing the number falls back to the deployment's default sender.
    cleared = await client.patch(
        "/api/v1/organization", json={"sms_from": ""}, headers=org.auth("admin")
    )
    assert cleared.json()["sms_from"] == "" and cleared.json()["messaging_service_sid"] == SID
    # The contact email is cleared with null; an empty string is not an address.
    empty = await client.patch(
        "/api/v1/organization", json={"contact_email": ""}, headers=org.auth("admin")
    )
    assert empty.status_code == 422
    gone = await client.patch(
        "/api/v1/organization", json={"contact_email": None}, headers=org.auth("admin")
    )
    assert gone.json()["contact_email"] == ""


async def test_bad_values_name_their_fields_and_change_nothing(client: Any, org: Org) -> None:
    bad = {"sms_from": "0415 555", "messaging_service_sid": "MGxyz", "contact_email": "nope"}
    r = await client.patch("/api/v1/organization", json=bad, headers=org.auth("admin"))
    problem = assert_problem(r, 422)
    assert {e["field"] for e in problem["errors"]} == set(bad)
    row = await Organization.select(Organization.sms_from).where(Organization.id == org.id)
    assert row[0]["sms_from"] == ""
    unknown = await client.patch(
        "/api/v1/organization", json={"slug": "other"}, headers=org.auth("admin")
    )
    assert unknown.status_code in (400, 422)


async def test_init_takes_sender_and_contacts_and_refuses_a_bad_one(
    cli_env: dict[str, str],
) -> None:
    slug = f"init-{secrets.token_hex(3)}"
    done = await asyncio.to_thread(
        run,
        "init", "--org", slug, "--org-name", "Init Clinic", "--admin-email",
        f"admin@{slug}.example", "--sms-from", "+14155550199", "--postal-address",
        "2 Hill Street", env=cli_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    row = await Organization.select().where(Organization.slug == slug).first()
    assert row is not None
    assert (row["sms_from"], row["postal_address"]) == ("+14155550199", "2 Hill Street")
    bad = await asyncio.to_thread(
        run,
        "init", "--org", f"{slug}-b", "--org-name", "B", "--admin-email",
        f"admin@{slug}-b.example", "--sms-from", "555", env=cli_env,
    )  # fmt: skip
    assert bad.returncode != 0 and "--sms-from" in bad.stderr and "Traceback" not in bad.stderr
    assert not await Organization.exists().where(Organization.slug == f"{slug}-b")


async def test_admin_sets_the_service_standard_for_staff_tasks(client: Any, org: Org) -> None:
    shown = (await client.get("/api/v1/organization", headers=org.auth("staff"))).json()
    assert (shown["task_due_hours"], shown["task_target_percent"]) == (24, 90)
    body = {"task_due_hours": 8, "task_target_percent": 95}
    r = await client.patch("/api/v1/organization", json=body, headers=org.auth("admin"))
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in body} == body
    whole = {"task_due_hours": 12.0}  # JSON does not tell 12.0 from 12
    r = await client.patch("/api/v1/organization", json=whole, headers=org.auth("admin"))
    assert r.status_code == 200 and r.json()["task_due_hours"] == 12
    for bad in (
        {"task_due_hours": 0},
        {"task_target_percent": 101},
        {"task_due_hours": "8"},
        {"task_due_hours": 8.5},
    ):
        assert_problem(
            await client.patch("/api/v1/organization", json=bad, headers=org.auth("admin")), 422
        )
    refused = await client.patch("/api/v1/organization", json=body, headers=org.auth("manager"))
    assert refused.status_code == 403


async def test_init_takes_the_service_standard(cli_env: dict[str, str]) -> None:
    slug = f"init-{secrets.token_hex(3)}"
    done = await asyncio.to_thread(
        run,
        "init", "--org", slug, "--org-name", "Std Clinic", "--admin-email",
        f"admin@{slug}.example", "--task-due-hours", "12", "--task-target-percent", "75",
        env=cli_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    row = await Organization.select().where(Organization.slug == slug).first()
    assert row is not None and (row["task_due_hours"], row["task_target_percent"]) == (12, 75)
    bad = await asyncio.to_thread(
        run,
        "init", "--org", f"{slug}-b", "--org-name", "B", "--admin-email",
        f"admin@{slug}-b.example", "--task-due-hours", "0", env=cli_env,
    )  # fmt: skip
    assert bad.returncode != 0 and "--task-due-hours" in bad.stderr
    assert not await Organization.exists().where(Organization.slug == f"{slug}-b")
