"""The HTTP surface: ``create_app`` mounts the core's routes and each capability's router."""

from trustplane.server._app import create_app

__all__ = ["create_app"]
