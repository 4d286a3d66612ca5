"""X (Twitter): mentions and DMs in by Account Activity webhook or by polling; @replies and DMs out."""

from connectors.x.channel import XChannel

__all__ = ["XChannel"]
