"""The remote mode's catalog: every catalog command's operation through the API."""

from __future__ import annotations

from resguardo.cli.catalog_client.remote.inventory import RemoteInventory
from resguardo.cli.catalog_client.remote.notifications import RemoteNotifications
from resguardo.cli.catalog_client.remote.people import RemotePeople
from resguardo.cli.catalog_client.remote.plans import RemotePlans
from resguardo.cli.catalog_client.remote.restores import RemoteRestores
from resguardo.cli.catalog_client.remote.verifications import RemoteVerifications


class RemoteCatalog(
    RemoteInventory, RemotePeople, RemotePlans, RemoteRestores, RemoteVerifications, RemoteNotifications
):
    """Every catalog command's operation through a server's API (see the protocol)."""
