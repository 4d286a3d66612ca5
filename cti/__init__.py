"""CTI and channel-pivot server: the core (domain, storage, routing, events, API)."""

__version__ = "0.1.0"
