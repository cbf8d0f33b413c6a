"""``slipguard report``: the review pack of PNG charts and an HTML summary, written by the
command line from the dashboards' rows (PNG through kaleido and Debian's chromium)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import Org, make_org
from tests.factories import dashboard_scene, run

PNG = b"\x89PNG\r\n\x1a\n"


async def test_report_writes_charts_and_summary(client: Any, org: Org, tmp_path: Path) -> None:
    await dashboard_scene(org)
    result = run("report", "--org", org.slug, "--out", str(tmp_path / "pack"), timeout=180)
    assert result.returncode == 0, result.stderr
    written = [Path(line) for line in result.stdout.split()]
    names = sorted(p.name for p in written)
    charts = ["pareto", "matrix", "horrors", "trends", "countermeasures", "nudge-completion",
              "standards", "messages-per-customer"]  # fmt: skip
    assert names == sorted([f"{stem}.png" for stem in charts] + ["index.html"])
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5_000, path
    html = (tmp_path / "pack" / "index.html").read_text()
    assert "Take the tablet · Forgot" in html and 'src="pareto.png"' in html
    assert "<script" not in html
    other = await make_org("theta")
    empty = run("report", "--org", other.slug, "--out", str(tmp_path / "other"), timeout=180)
    assert empty.returncode == 0, empty.stderr
    text = (tmp_path / "other" / "index.html").read_text()
    assert "No slips were logged in this period." in text and "Forgot" not in text
    missing = run("report", "--org", "no-such-org", "--out", str(tmp_path / "x"))
    assert missing.returncode == 1 and "error:" in missing.stderr
