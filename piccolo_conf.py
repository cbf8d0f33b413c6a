"""Piccolo configuration: the engine comes from ``SLIPGUARD_DATABASE_URL`` (see settings.py)."""

from piccolo.conf.apps import AppRegistry

from api.db import make_engine
from settings import get_settings

DB = make_engine(get_settings().database)

APP_REGISTRY = AppRegistry(
    apps=[
        "api.piccolo_app",
        "journeys.piccolo_app",
        "coaching.piccolo_app",
        "dashboards.piccolo_app",
    ]
)
