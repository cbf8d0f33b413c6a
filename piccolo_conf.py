"""Piccolo configuration: the engine comes from ``SLIPGUARD_DATABASE_URL`` (see settings.py)."""

from piccolo.conf.apps import AppRegistry

from core.db import make_engine
from settings import get_settings

DB = make_engine(get_settings().database)

APP_REGISTRY = AppRegistry(
    apps=[
        "core.piccolo_app",
        "journeys.piccolo_app",
        "slips.piccolo_app",
        "coaching.piccolo_app",
        "dashboards.piccolo_app",
    ]
)
