"""The web console: server-rendered pages (Jinja2 and htmx) in Spanish and English, beside the REST API."""

from resguardo.web.app import create_console_app

__all__ = ["create_console_app"]
