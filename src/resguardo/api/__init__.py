"""The REST API face: JSON under ``/api/v1`` over the catalog, with tokens, sessions, roles and audit.

:func:`create_app` builds the ASGI application from :class:`ApiSettings`; see docs/api.md.
"""

from resguardo.api.app import create_app
from resguardo.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
