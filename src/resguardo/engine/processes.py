"""Worker processes of this same interpreter, and the framed messages exchanged with them.

Python threads share one interpreter lock, so the engine spreads heavy work over processes. A child
is started as ``python -m <module> <request fd> <reply fd>`` with two pipes of its own (standard
input and output stay untouched), receives a set-up message, then messages until the parent closes
the request pipe — which also happens when the parent dies, so children never outlive it. Messages
are pickled objects, each preceded by its length; they only ever travel between a parent and the
children it started itself.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, BinaryIO

FRAME_HEADER = struct.Struct("<I")


Reducers = dict[type, Callable[[Any], Any]]


def write_frame(stream: BinaryIO, message: object, reducers: Reducers | None = None) -> None:
    """Write one message to a pipe and flush it.

    Args:
        stream: the pipe.
        message: any picklable object.
        reducers: a pickle dispatch table for types that pickle faster by hand.
    """
    buffer = io.BytesIO()
    buffer.write(FRAME_HEADER.pack(0))
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    if reducers:
        pickler.dispatch_table = reducers
    pickler.dump(message)
    data = buffer.getbuffer()
    FRAME_HEADER.pack_into(data, 0, len(data) - FRAME_HEADER.size)
    stream.write(data)
    stream.flush()


def read_frame(stream: BinaryIO) -> Any:
    """Return the next message from a pipe, or None when the other end closed it."""
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    (length,) = FRAME_HEADER.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        return None
    return pickle.loads(data)  # noqa: S301 - frames come only from our own parent or children


class ChildProcess:
    """A child process running ``module`` as a worker, with its request and reply pipes.

    Args:
        module: the module to run with ``python -m``; it calls :func:`child_pipes`.
        setup: the first message the child receives.
        extra_descriptors: more open descriptors the child inherits (their numbers follow the pipes'
            on its command line).
        reducers: a pickle dispatch table for the messages sent to the child.
    """

    def __init__(
        self,
        module: str,
        setup: object,
        *,
        extra_descriptors: tuple[int, ...] = (),
        reducers: Reducers | None = None,
    ) -> None:
        self.reducers = reducers
        environment = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        environment["PYTHONPATH"] = os.pathsep.join(
            part for part in (package_root, environment.get("PYTHONPATH", "")) if part
        )
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            self.process = subprocess.Popen(  # noqa: S603 - runs this same interpreter on our own module
                [
                    sys.executable,
                    "-m",
                    module,
                    str(request_read),
                    str(reply_write),
                    *(str(descriptor) for descriptor in extra_descriptors),
                ],
                stdin=subprocess.DEVNULL,
                pass_fds=(request_read, reply_write, *extra_descriptors),
                env=environment,
            )
        finally:
            os.close(request_read)
            os.close(reply_write)
        self.requests: BinaryIO = os.fdopen(request_write, "wb")
        self.replies: BinaryIO = os.fdopen(reply_read, "rb")
        self.write_lock = threading.Lock()
        self.send(setup)

    def send(self, message: object) -> None:
        """Write one message to the child (from any thread).

        Raises:
            OSError: the child is gone.
        """
        with self.write_lock:
            write_frame(self.requests, message, self.reducers)


def child_pipes() -> tuple[BinaryIO, BinaryIO]:
    """In a child started by :class:`ChildProcess`: return its (request, reply) pipes.

    Descriptors passed with ``extra_descriptors`` are ``sys.argv[3:]``.

    Ctrl-C reaches the whole process group; the child ignores it and lets the parent decide, which
    closes the request pipe.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    request_descriptor, reply_descriptor = (int(argument) for argument in sys.argv[1:3])
    return os.fdopen(request_descriptor, "rb"), os.fdopen(reply_descriptor, "wb")


class ChildPool:
    """A few children running the same worker module, each answering requests in order.

    Every request goes to the child with the fewest unanswered ones, and comes back as a
    :class:`concurrent.futures.Future`. A child that dies fails its unanswered futures with
    ``on_death``'s error. The worker module answers each request frame with one reply frame:
    ``("ok", result)`` or ``("error", message)``.

    Args:
        module: the worker module (run with ``python -m``).
        setup: the set-up message every child receives first.
        count: how many children.
        on_death: builds the exception for futures whose child died or failed.
    """

    def __init__(
        self, module: str, setup: object, count: int, on_death: Callable[[str], BaseException]
    ) -> None:
        self.on_death = on_death
        self.lock = threading.Lock()
        self.children = [ChildProcess(module, setup) for _ in range(count)]
        self.waiting: list[deque[Future[Any]]] = [deque() for _ in self.children]
        self.collectors = [
            threading.Thread(target=self._collect, args=(number,), name="child-collector", daemon=True)
            for number in range(count)
        ]
        for collector in self.collectors:
            collector.start()

    def submit(self, request: object) -> Future[Any]:
        """Send a request to the least busy child; return the future of its reply."""
        future: Future[Any] = Future()
        with self.lock:
            number = min(range(len(self.children)), key=lambda candidate: len(self.waiting[candidate]))
            self.waiting[number].append(future)
            try:
                self.children[number].send(request)
            except OSError:
                self.waiting[number].pop()
                future.set_exception(self.on_death("a worker process ended unexpectedly"))
        return future

    def _collect(self, number: int) -> None:
        replies = self.children[number].replies
        while True:
            try:
                reply = read_frame(replies)
            except (OSError, EOFError, pickle.UnpicklingError):
                reply = None
            with self.lock:
                waiting = self.waiting[number]
                if reply is None:
                    while waiting:
                        future = waiting.popleft()
                        if not future.done():
                            future.set_exception(self.on_death("a worker process ended unexpectedly"))
                    return
                future = waiting.popleft()
            status, payload = reply
            if future.set_running_or_notify_cancel():
                if status == "ok":
                    future.set_result(payload)
                else:
                    future.set_exception(self.on_death(str(payload)))

    def close(self) -> None:
        """Close the children's input (they finish the request at hand and exit) and wait for them."""
        for child in self.children:
            with contextlib.suppress(OSError):
                child.requests.close()
        for child in self.children:
            try:
                child.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        for collector in self.collectors:
            collector.join(timeout=10)
        for child in self.children:
            with contextlib.suppress(OSError):
                child.replies.close()


def serve_requests(handle: Callable[[Any, Any], Any], make_state: Callable[[Any], Any]) -> None:
    """Run a worker of a :class:`ChildPool`: build state from the set-up, then answer every request.

    Args:
        handle: ``handle(state, request)`` returns the result sent back.
        make_state: builds the worker's state from the set-up message.
    """
    requests, replies = child_pipes()
    with requests, replies:
        setup = read_frame(requests)
        if setup is None:
            return
        state = make_state(setup)
        while (request := read_frame(requests)) is not None:
            try:
                reply: tuple[str, Any] = ("ok", handle(state, request))
            except Exception as error:
                reply = ("error", f"{type(error).__name__}: {error}")
            write_frame(replies, reply)
