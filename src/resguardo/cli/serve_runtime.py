"""The running parts of ``resguardo serve``: the HTTP server, the scheduling loop, a worker and the
e-mail sender, together.

The HTTP server runs in the main thread (it handles SIGINT and SIGTERM); the scheduling loop, the
worker and the sender run in threads. On a signal the server stops accepting requests, then the
worker stops claiming runs and the run in progress, if any, is let finish; a second signal stops at
once, and the run left behind is failed as stale and retried by the next worker's sweep.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from resguardo.core.errors import ConfigurationError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.orm import Session, sessionmaker

    from resguardo.jobs.worker import Worker

LOGGER = logging.getLogger("resguardo.serve")
SCHEDULING_INTERVAL = 5.0
"""Seconds between two scheduling passes of ``serve`` (a pass is one query; a short interval makes
"run now" answer quickly)."""
RESTART_DELAY = 5.0
"""Seconds a loop waits before trying again after an unexpected error (the database away, say)."""


def is_loopback(host: str) -> bool:
    """Return True when ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening_socket(host: str, port: int) -> socket.socket:
    """Return a socket bound to ``host``:``port`` (port 0 picks a free one), ready to be served.

    Raises:
        ConfigurationError: the address cannot be bound (in use, not this machine's, no permission).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ConfigurationError(
            f"cannot listen on {host}: {error.strerror}", "give --host an address of this machine"
        ) from None
    family, kind, protocol, _name, address = infos[0]
    listener = socket.socket(family, kind, protocol)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as error:
        listener.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {error.strerror}",
            "choose another --port, or stop what listens there",
        ) from None
    listener.set_inheritable(True)
    return listener


def base_url(listener: socket.socket) -> str:
    """Return the ``http://HOST:PORT`` address ``listener`` is bound to."""
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _guarded(name: str, body: Callable[[], None], stop: threading.Event) -> Callable[[], None]:
    """Return a thread target running ``body`` until ``stop`` is set, logging and restarting it on errors."""

    def target() -> None:
        while not stop.is_set():
            try:
                body()
            except Exception:
                LOGGER.exception("the %s stopped on an unexpected error; restarting it", name)
                stop.wait(RESTART_DELAY)

    return target


def _work(worker: Worker, stop: threading.Event) -> None:
    """Sweep stale runs, carry out queued restores and run due runs (then queued verifications, when no
    run is due) until ``stop`` is set; never start one once it is set."""
    while not stop.is_set():
        swept = worker.sweep()
        if swept:
            LOGGER.warning("runs %s of a stopped worker failed as stale; they will be retried", swept)
        restored = worker.restore_one()  # restores first: a person is waiting for them
        if restored is not None:
            LOGGER.info("restore %d ended: %s", restored[0], restored[1] or "stopped")
            continue
        done = worker.run_one()
        if done is None:
            verified = worker.verify_one()
            if verified is None:
                stop.wait(worker.settings.poll_interval)
            else:
                LOGGER.info("verification %d ended: %s", verified[0], verified[1] or "stopped")
            continue
        run_id, state = done
        LOGGER.info("run %d ended: %s", run_id, state or "stopped")


@dataclass
class Background:
    """The threads of the scheduling loop and the worker, and the event that stops them."""

    stop: threading.Event
    threads: list[threading.Thread]

    def join(self) -> None:
        """Ask the threads to stop and wait for them (the worker finishes its current run first)."""
        self.stop.set()
        for thread in self.threads:
            thread.join()


def start_background(sessions: sessionmaker[Session], worker: Worker) -> Background:
    """Start the scheduling loop, the worker and the e-mail sender in daemon threads; return them."""
    from resguardo.jobs.scheduling_loop import PassResult, scheduling_loop
    from resguardo.notify import Sender

    stop = threading.Event()

    def log_pass(result: PassResult) -> None:
        if result.queued:
            LOGGER.info("queued runs %s", result.queued)
        for name, message in result.unreadable:
            LOGGER.warning("job %r skipped: %s", name, message)

    def schedule() -> None:
        scheduling_loop(sessions, stop, interval=SCHEDULING_INTERVAL, on_pass=log_pass)

    sender = Sender(sessions, worker.settings.secret_key, clock=worker.clock)
    threads = [
        threading.Thread(target=_guarded("scheduling loop", schedule, stop), name="scheduler", daemon=True),
        threading.Thread(
            target=_guarded("e-mail sender", lambda: sender.serve(stop), stop), name="sender", daemon=True
        ),
        threading.Thread(
            target=_guarded("worker", lambda: _work(worker, stop), stop), name="worker", daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    return Background(stop, threads)


def _second_signal_interrupts(background: Background) -> None:
    """Make SIGINT and SIGTERM, once the server has stopped, stop waiting for the current run."""

    def handler(signal_number: int, frame: FrameType | None) -> None:
        del frame
        if not background.stop.is_set():
            background.stop.set()
            LOGGER.info("stopping after the run in progress; signal again to stop at once")
            return
        raise KeyboardInterrupt(signal.Signals(signal_number).name)

    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, handler)


def serve_forever(app: FastAPI, listener: socket.socket, background: Background) -> None:
    """Serve ``app`` on ``listener`` until SIGINT or SIGTERM, then stop the background threads.

    Raises:
        KeyboardInterrupt: a second signal came while the current run was finishing.
    """
    import uvicorn

    _second_signal_interrupts(background)
    LOGGER.info("listening on %s", base_url(listener))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=True, lifespan="on"))
    try:
        server.run(sockets=[listener])
    finally:
        LOGGER.info("server stopped; waiting for the worker")
        background.join()
        LOGGER.info("stopped")
