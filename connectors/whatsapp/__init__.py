"""WhatsApp Business Cloud API (``[connectors.whatsapp]``): docs/connectors.md."""

from connectors.whatsapp.channel import WhatsAppChannel, WhatsAppSettings

__all__ = ["WhatsAppChannel", "WhatsAppSettings"]
