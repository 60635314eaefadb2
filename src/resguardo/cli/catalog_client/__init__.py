"""One interface for the catalog commands, on the catalog itself or on a running server.

The commands (``client``, ``repository``, ``user``, ``job``, ``run``, ``failure``) talk to a
:class:`~resguardo.cli.catalog_client.protocol.CatalogClient`: :mod:`.local` works on the catalog's
database (queries and services, each change audited under the local account's name), :mod:`.remote`
calls a server's REST API with an API token. Both return the same plain documents (:mod:`.documents`),
so the commands print the same tables and JSON, and raise the same errors, in either mode.
:func:`~resguardo.cli.catalog_client.choose.open_catalog` picks the mode from the global options.
"""

from resguardo.cli.catalog_client.protocol import CatalogClient, JobReferences, Record

__all__ = ["CatalogClient", "JobReferences", "Record"]
