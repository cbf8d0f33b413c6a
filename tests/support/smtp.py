"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it receives."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.services import free_port


@dataclass(frozen=True)
class ReceivedMail:
    """One message as delivered: envelope sender, envelope recipients and parsed content."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class _RecordingHandler:
    """aiosmtpd handler that parses and stores each message."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.messages: list[ReceivedMail] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Accept the message and store it."""
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        parsed = message_from_bytes(raw, policy=policy.default)
        # policy.default always produces EmailMessage; the assert narrows the type for mypy.
        assert isinstance(parsed, EmailMessage)
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            message=parsed,
        )
        with self.condition:
            self.messages.append(mail)
            self.condition.notify_all()
        return "250 Message accepted for delivery"


class SmtpServer:
    """SMTP server on a free loopback port that records received mail."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        """Configure the listening address; port None picks a free one at start()."""
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._handler = _RecordingHandler()
        self._controller: Controller | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._port is None:
            raise RuntimeError("SmtpServer is not running; call start() first")
        return self._port

    @property
    def messages(self) -> list[ReceivedMail]:
        """Snapshot of the received messages, oldest first."""
        with self._handler.condition:
            return list(self._handler.messages)

    def start(self) -> SmtpServer:
        """Start listening in a background thread."""
        if self._controller is not None:
            return self
        # Controller(port=0) cannot work: its readiness check connects to the port it was given.
        port = self._requested_port or free_port()
        controller = Controller(
            self._handler,
            hostname=self.host,
            port=port,
            # A fixed name avoids a reverse DNS lookup (socket.getfqdn) on every start.
            server_hostname="localhost",
        )
        controller.start()
        self._controller = controller
        self._port = port
        return self

    def stop(self) -> None:
        """Stop the server and release the port."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        self._port = None

    def clear(self) -> None:
        """Forget the messages received so far."""
        with self._handler.condition:
            self._handler.messages.clear()

    def wait_for(self, count: int, timeout: float = 5) -> list[ReceivedMail]:
        """Block until at least `count` messages arrived; TimeoutError otherwise."""
        with self._handler.condition:
            arrived = self._handler.condition.wait_for(
                lambda: len(self._handler.messages) >= count, timeout
            )
            if not arrived:
                raise TimeoutError(
                    f"expected {count} mail(s) within {timeout} s, "
                    f"got {len(self._handler.messages)}"
                )
            return list(self._handler.messages)

    def __enter__(self) -> SmtpServer:
        """Start the server for a with-block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server at the end of a with-block."""
        self.stop()

    def __repr__(self) -> str:
        return f"SmtpServer(host={self.host!r}, port={self._port!r})"
