"""Handing one e-mail to the SMTP server with the standard library, and saying clearly why it failed.

:func:`deliver` connects (``tls``: TLS from the first byte, port 465; ``starttls``: a plain connection
upgraded with STARTTLS, port 587; ``none``: no encryption, for a relay on a trusted network), checks
the server's certificate against the system's authorities (``SSL_CERT_FILE`` names another bundle, e.g.
an internal authority), logs in when a user name is set, and sends. Every failure becomes a
:class:`~resguardo.core.errors.DeliveryError` whose message is the server's answer and whose hint says
what to change; the password never appears in either.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid

from resguardo.catalog.enums import SmtpSecurity
from resguardo.core.errors import DeliveryError

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send: the server, its security, the login (the password never in a repr)."""

    host: str
    port: int
    security: SmtpSecurity
    sender: str
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = DEFAULT_TIMEOUT

    @property
    def address(self) -> str:
        """Return ``host:port``."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Email:
    """One message to one recipient, plain text."""

    recipient: str
    subject: str
    body: str


def build_message(server: SmtpServer, email: Email, now: datetime) -> EmailMessage:
    """Return the MIME message of ``email`` from the server's sender, dated ``now`` (UTF-8 text)."""
    message = EmailMessage()
    message["From"] = server.sender
    message["To"] = email.recipient
    message["Subject"] = email.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=server.sender.rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.body)
    return message


def deliver(server: SmtpServer, email: Email, now: datetime) -> str:
    """Send ``email`` through ``server``; return the server's answer to the message (e.g. ``250 OK``).

    Raises:
        DeliveryError: the server could not be reached, the TLS handshake or the login failed, or the
            server refused the sender, the recipient or the message.
    """
    message = build_message(server, email, now)
    try:
        with _connected(server) as connection:
            if server.username:
                connection.login(server.username, server.password)
            return _send(connection, server, email, message)
    except DeliveryError as error:
        raise _scrubbed_error(error, server.password) from None
    except (smtplib.SMTPException, OSError) as error:
        raise _scrubbed_error(_explained(error, server), server.password) from None


def _connected(server: SmtpServer) -> smtplib.SMTP:
    """Return an open connection to ``server``, encrypted as its security says, greeted with EHLO."""
    context = ssl.create_default_context()
    if server.security is SmtpSecurity.TLS:
        return smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout, context=context)
    connection = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
    try:
        connection.ehlo()
        if server.security is SmtpSecurity.STARTTLS:
            if not connection.has_extn("starttls"):
                raise DeliveryError(
                    f"the SMTP server {server.address} does not offer STARTTLS",
                    "choose security 'tls' if the port speaks TLS from the start (465), or 'none' "
                    "only for a relay on a trusted network",
                )
            connection.starttls(context=context)
            connection.ehlo()
    except BaseException:
        connection.close()
        raise
    return connection


def _send(connection: smtplib.SMTP, server: SmtpServer, email: Email, message: EmailMessage) -> str:
    """Send ``message`` with MAIL, RCPT and DATA; return the answer to DATA. Raises DeliveryError."""
    code, answer = connection.mail(server.sender)
    if code != 250:
        raise DeliveryError(
            f"the SMTP server refused the sender {server.sender}: {code} {_text(answer)}",
            "give a sender address the server lets this account use",
        )
    code, answer = connection.rcpt(email.recipient)
    if code not in (250, 251):
        raise DeliveryError(
            f"the SMTP server refused the recipient {email.recipient}: {code} {_text(answer)}",
            "check the recipient's address, and that the server relays to it",
        )
    code, answer = connection.data(message.as_bytes(policy=SMTP_POLICY))
    if code != 250:
        raise DeliveryError(
            f"the SMTP server refused the message: {code} {_text(answer)}", "read the server's answer"
        )
    return f"{code} {_text(answer)}".strip()


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer


def _explained(error: BaseException, server: SmtpServer) -> DeliveryError:
    """Return the DeliveryError saying what ``error`` means for ``server`` and what to change."""
    where = server.address
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"the SMTP server {where} refused the login of {server.username!r}: "
            f"{error.smtp_code} {_text(error.smtp_error)}",
            "check the SMTP user name and password",
        )
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return DeliveryError(
            f"the SMTP server {where} does not support what was asked: {error}",
            "remove the user name if the server takes mail without a login, or change the security",
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return DeliveryError(
            f"the SMTP server {where} answered {error.smtp_code} {_text(error.smtp_error)}",
            "read the server's answer; its administrator can tell what it refuses",
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        return DeliveryError(
            f"the TLS certificate of the SMTP server {where} is not trusted: {error.verify_message}",
            "give the host name the certificate names, or trust its authority (SSL_CERT_FILE)",
        )
    if isinstance(error, ssl.SSLError):
        return DeliveryError(
            f"the TLS handshake with the SMTP server {where} failed: {error.reason or error}",
            "check the security: 'tls' for port 465, 'starttls' for port 587",
        )
    return _network_error(error, server)


def _network_error(error: BaseException, server: SmtpServer) -> DeliveryError:
    where = server.address
    if isinstance(error, ConnectionRefusedError):
        return DeliveryError(
            f"the SMTP server {where} refused the connection",
            "check the host and port, and that the SMTP server is running",
        )
    if isinstance(error, socket.gaierror):
        return DeliveryError(
            f"the SMTP server's name {server.host!r} cannot be resolved: {error.strerror}",
            "check the SMTP host name",
        )
    if isinstance(error, TimeoutError | socket.timeout):
        return DeliveryError(
            f"the SMTP server {where} did not answer within {server.timeout:g} seconds",
            "check the host and port, a firewall between, or the security (TLS on a plain port hangs)",
        )
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return DeliveryError(
            f"the SMTP server {where} closed the connection: {error}",
            "check the security: 'tls' for port 465, 'starttls' for port 587",
        )
    return DeliveryError(f"cannot talk to the SMTP server {where}: {error}", "check the host and port")


def _scrubbed_error(error: DeliveryError, secret: str) -> DeliveryError:
    """Return ``error`` with every occurrence of ``secret`` masked (a server may echo what it was sent)."""
    if not secret:
        return error
    return DeliveryError(error.message.replace(secret, "********"), error.hint.replace(secret, "********"))
