"""Email over SMTP: a text and an HTML part, List-Unsubscribe, and the sender's footer."""

from __future__ import annotations

import html
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid

from coaching.channels.base import Outcome, Outgoing, Permanent, Sent, Transient
from settings import EmailSettings


def compose(message: Outgoing, from_address: str) -> EmailMessage:
    """The MIME message: plain text first, HTML as the alternative."""
    mail = EmailMessage()
    mail["From"] = message.sender.email_from or from_address
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Message-ID"] = make_msgid(idstring=str(message.nudge_id))
    mail["X-Slipguard-Nudge"] = str(message.nudge_id)
    text = message.body
    links = ""
    if message.page_url:
        text += f"\n\nYour steps, preferences and data: {message.page_url}"
        links += (
            f'<p><a href="{html.escape(message.page_url)}">Your steps, preferences and data</a></p>'
        )
    if message.unsubscribe_url:
        mail["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        text += f"\n\nTo stop these emails: {message.unsubscribe_url}"
        links += f'<p><a href="{html.escape(message.unsubscribe_url)}">Stop these emails</a></p>'
    if message.footer:
        text += f"\n\n{message.footer}"
    mail.set_content(text)
    body_html = message.html or "".join(
        f"<p>{html.escape(part)}</p>" for part in message.body.split("\n\n")
    )
    footer = f"<p><small>{html.escape(message.footer)}</small></p>" if message.footer else ""
    mail.add_alternative(f"<html><body>{body_html}{links}{footer}</body></html>", subtype="html")
    return mail


class SmtpEmail:
    """A connection per message: simple, and a broken connection never outlives a send."""

    provider = "smtp"

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    def send(self, message: Outgoing) -> Outcome:
        s = self.settings
        mail = compose(message, s.from_address)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=15) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password.get())
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code, _ = next(iter(exc.recipients.values()))
            return _by_code(code)
        except smtplib.SMTPResponseException as exc:
            return _by_code(exc.smtp_code)
        except (smtplib.SMTPException, OSError) as exc:
            return Transient("network", type(exc).__name__)
        # The Message-ID carries the host name and can outgrow the provider id column; the
        # message's own id names it uniquely (it is in the Message-ID too).
        return Sent(f"smtp-{message.nudge_id}")

    def find_sent(self, message: Outgoing, since: datetime) -> str | None:
        # SMTP cannot be asked what it accepted: a lost outcome is sent again.
        return None


def _by_code(code: int) -> Outcome:
    """SMTP 4xx: try later; 5xx: the address or message is refused for good."""
    if 400 <= code < 500:
        return Transient(str(code), "the mail server asked to try later")
    return Permanent(str(code), "address_refused")
