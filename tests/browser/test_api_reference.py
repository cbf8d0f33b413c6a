"""The API reference renders in a browser with no internet: every asset is served here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import LiveServer


async def test_swagger_renders_from_local_assets_only(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    page = await browser.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((live_server.url, "data:")) else outside.append(r.url),
    )
    response = await page.goto(live_server.url + "/schema/swagger")
    assert response is not None and response.status == 200
    # Swagger UI has drawn the operations of the schema it was given.
    await page.wait_for_selector(".opblock-tag", timeout=15_000)
    assert await page.get_by_text("/api/v1/slips", exact=True).count() >= 1
    await page.screenshot(path=str(artifacts / "api-reference.png"))
    assert outside == []
    await page.close()
