"""XMPP chat through the company's support account (slixmpp). See channel.py."""

from connectors.xmpp.channel import XmppChannel, XmppSettings

__all__ = ["XmppChannel", "XmppSettings"]
