"""Dates in messages are written the customer's way."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from journeys.services import local_fields


def test_chinese_and_english_dates() -> None:
    moment = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)
    shanghai = ZoneInfo("Asia/Shanghai")
    assert local_fields(moment, shanghai, "zh-CN") == {"date": "11月27日 星期五", "time": "10:30"}
    assert local_fields(moment, shanghai, "en") == {"date": "Friday 27 November", "time": "10:30"}
    # the same instant is still Thursday evening in New York
    assert (
        local_fields(moment, ZoneInfo("America/New_York"), "en-US")["date"]
        == "Thursday 26 November"
    )
