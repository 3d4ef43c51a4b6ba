"""Outgoing e-mail: the one SMTP configuration (OVERT_SMTP_*) and the one way to send.

The consent service mails verification links with it and the API mails reports and alerts;
both read the same settings. Without a host, nothing is sent (development mode): each
sender decides what to do instead, and never logs a message's body or its recipient.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class MailSettings(BaseSettings):
    """SMTP for outgoing mail (OVERT_SMTP_*); without a host, development mode."""

    model_config = SettingsConfigDict(env_prefix="OVERT_SMTP_", extra="ignore", frozen=True)

    host: str | None = Field(None, description="SMTP server; unset: nothing is mailed.")
    port: int = Field(587, ge=1, le=65535)
    sender: str = Field("overt@localhost", description="From: address.")
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = True


def send_mail(settings: MailSettings, to: str, subject: str, body: str) -> None:
    """Send one plain-text message (blocking: run it in a thread from async code)."""
    assert settings.host is not None
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    with smtplib.SMTP(settings.host, settings.port, timeout=10) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.username and settings.password:
            smtp.login(settings.username, settings.password.get_secret_value())
        smtp.send_message(message)


async def mail(settings: MailSettings, to: str, subject: str, body: str) -> None:
    """send_mail from async code, in a worker thread."""
    await asyncio.to_thread(send_mail, settings, to, subject, body)
