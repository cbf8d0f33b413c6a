"""What a person sees at an address that does not exist: a page, not raw JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import LiveServer


async def test_unknown_address_shows_an_error_page(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    page = await browser.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if m.type == "error" else None)
    response = await page.goto(live_server.url + "/no/such/page")
    assert response is not None and response.status == 404
    assert await page.text_content("#error-title") == "Not found"
    await page.screenshot(path=str(artifacts / "error-page.png"))
    await page.click("text=Back to the start page")
    await page.wait_for_url(live_server.url + "/login?next=/")
    assert [v for v in violations if "Content Security Policy" in v] == []
    await page.close()
