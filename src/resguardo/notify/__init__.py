"""E-mail notifications: the outbox that features write to, the messages' templates, and the sender
that delivers them through the service's SMTP server.

It sits beside :mod:`resguardo.sources`, above the catalog (it reads the settings and users and writes
the outbox) and below the services and the workers (which call :func:`notify` in the transaction of
the event, and run the :class:`Sender`). See docs/notifications.md.
"""

from resguardo.notify._outbox import Recipient, notify
from resguardo.notify._runs import RUN_FAILED, RUN_RECOVERED, notify_run_outcome
from resguardo.notify._smtp import Email, SmtpServer, deliver
from resguardo.notify._templates import events, render
from resguardo.notify._verifications import (
    RUN_VERIFICATION,
    VERIFICATION_PROBLEM,
    notify_run_verification,
    notify_verification_outcome,
)
from resguardo.notify.sender import Attempt, Sender, backoff, send_test_message

__all__ = [
    "RUN_FAILED",
    "RUN_RECOVERED",
    "RUN_VERIFICATION",
    "VERIFICATION_PROBLEM",
    "Attempt",
    "Email",
    "Recipient",
    "Sender",
    "SmtpServer",
    "backoff",
    "deliver",
    "events",
    "notify",
    "notify_run_outcome",
    "notify_run_verification",
    "notify_verification_outcome",
    "render",
    "send_test_message",
]
