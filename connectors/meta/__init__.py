"""Meta: Facebook Messenger, Instagram messaging, and Page/Instagram comments over one webhook."""

from connectors.meta.channel import MetaChannel

__all__ = ["MetaChannel"]
