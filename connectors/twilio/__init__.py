"""Twilio: voice (inbound calls through the universal queue, outbound calls and callbacks) and SMS."""

from connectors.twilio.channel import TwilioChannel

__all__ = ["TwilioChannel"]
