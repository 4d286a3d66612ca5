"""The web chat: a widget for the company's own site, and the visitor's side of the conversation.

``GET /chat/widget.js`` (one script tag on an allowed page), ``/chat/v1/...`` for the widget (a
visitor token reaches one conversation), and ``/chat/p/...``: nothing else. The conversation is an
interaction like any other (channel ``[channels.webchat] name``, identity ``webchat:<visitor>``),
so routing, the desk, reports and webhooks treat it as they treat every chat; agents' replies go
through the core's outbox and the ``cti.webchat_channel`` channel. Arrows: this package uses the
core, ``pivot`` (links, callbacks, the voice bridge) and ``softphone_bridge``; nothing uses it but
the composition root.
"""
