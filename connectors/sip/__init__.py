"""SIP: the project's own sans-IO signalling core (messages, transactions), its asyncio endpoint, and the connector."""

from connectors.sip.channel import SipChannel, SipSettings

__all__ = ["SipChannel", "SipSettings"]
