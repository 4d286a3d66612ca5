"""Email over IMAP (inbound, IDLE) and SMTP (replies). See channel.py."""

from connectors.email.channel import EmailChannel, EmailSettings

__all__ = ["EmailChannel", "EmailSettings"]
