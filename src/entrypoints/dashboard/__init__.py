"""The browser dashboard, served by the same Litestar app as the JSON API."""

from entrypoints.dashboard.routes import dashboard_routes

__all__ = ["dashboard_routes"]
