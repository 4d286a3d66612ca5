"""SIP: the project's own sans-IO signalling core (messages, transactions; dialogs and the UA follow)."""
