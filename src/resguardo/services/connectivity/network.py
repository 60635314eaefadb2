"""The network steps of a test: does the name resolve, is the port open. Each waits a few seconds at most."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from resguardo.services.connectivity.report import FAILED, OK, Report

STEP_TIMEOUT_SECONDS = 5.0
"""How long one network step may take before it is reported as failed."""


def name_resolves(report: Report, host: str, timeout: float = STEP_TIMEOUT_SECONDS) -> bool:
    """Check that ``host`` resolves to an address (in at most ``timeout`` seconds); return whether it did."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM)
    try:
        addresses = sorted({str(entry[4][0]) for entry in future.result(timeout=timeout)})
    except FutureTimeout:
        report.add(
            "name resolves",
            host,
            FAILED,
            f"no answer from the name service within {timeout:g} s",
            "check the DNS servers of this host, or give the client's IP address",
        )
        return False
    except (OSError, UnicodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        report.add(
            "name resolves",
            host,
            FAILED,
            f"the name does not resolve: {reason}",
            "correct the client's address, or add the name to the DNS (or /etc/hosts)",
        )
        return False
    finally:
        pool.shutdown(wait=False)
    report.add("name resolves", host, OK, ", ".join(addresses))
    return True


def port_open(report: Report, host: str, port: int, what: str, timeout: float = STEP_TIMEOUT_SECONDS) -> bool:
    """Check that a TCP connection to ``host:port`` opens within ``timeout`` seconds; return whether it did.

    ``what`` names the service expected there (``SSH``, ``PostgreSQL`` ...), for the messages.
    """
    target = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except TimeoutError:
        report.add(
            "port open",
            target,
            FAILED,
            f"no answer within {timeout:g} s ({what})",
            f"check that the host is up and that a firewall lets this host reach port {port}",
        )
        return False
    except OSError as error:
        report.add(
            "port open",
            target,
            FAILED,
            f"the connection was refused or failed: {error.strerror or error} ({what})",
            f"check that {what} listens on port {port} of that host, and the client's port",
        )
        return False
    report.add("port open", target, OK, f"{what} port accepts connections")
    return True
