"""Turn a repository location given by a person into a Storage."""

from __future__ import annotations

from resguardo.backends.base import Storage
from resguardo.backends.local import LocalStorage
from resguardo.core.errors import ConfigurationError


def open_storage(location: str) -> Storage:
    """Return the Storage for ``location``: a directory path, or ``local:PATH``.

    Raises:
        ConfigurationError: the location is empty or names a scheme this version does not support.
    """
    if not location:
        raise ConfigurationError("no repository given", "pass --repo PATH or set RESGUARDO_REPOSITORY")
    if location.startswith("local:"):
        return LocalStorage(location.removeprefix("local:"))
    scheme, separator, _rest = location.partition("://")
    if separator:
        raise ConfigurationError(
            f"repository scheme {scheme!r} is not supported in {location!r}",
            "use a local directory path",
        )
    return LocalStorage(location)
