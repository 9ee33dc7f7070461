"""The HTTP service: JSON API, dashboard pages and the live websocket (``create_app``)."""

from divergence.service.app import create_app

__all__ = ["create_app"]
