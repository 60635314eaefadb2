"""The connectivity and feasibility test of a client server (R3 to R5): can the service reach it, log in,
read what it would back up, and store it? See docs/connectivity.md."""

from resguardo.services.connectivity.report import Item, Report
from resguardo.services.connectivity.run import (
    ConnectivityRequest,
    run_checks,
    run_client_test,
    stored_document,
)

__all__ = ["ConnectivityRequest", "Item", "Report", "run_checks", "run_client_test", "stored_document"]
