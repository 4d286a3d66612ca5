"""Examples in the OpenAPI document: one request body per body model, and the main answers.

A test validates every request example against its model, so the examples cannot drift from what
the server accepts."""

from __future__ import annotations

from typing import Any

REQUESTS: dict[str, dict[str, Any]] = {
    "AgentCreate": {"name": "Alice Virtanen", "id": "alice", "skills": {"fi": 3, "en": 2},
                    "capacity": {"chat": 3, "voice": 1}, "voice_endpoint": "sip:alice@pbx.example.com"},
    "AgentPatch": {"skills": {"fi": 3, "en": 3, "sv": 1}, "rating": 4.5},
    "AgentStateBody": {"state": "available"},
    "SessionBody": {"name": "Vera", "email": "vera@example.com", "language": "fi"},
    "ChatMessageBody": {"text": "Hello, my parcel is late", "client_id": "c1k2j3"},
    "TypingBody": {"state": "composing"},
    "ReadBody": {"id": "msg_18d2c4e5f6a0b1c2d3e4f5a6b7c"},
    "ChatEmailBody": {"email": "vera@example.com", "text": "Does the router support IPv6?"},
    "ChatCallbackBody": {"phone": "+358401234567", "when": "now"},
    "OfferBody": {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n..."},
    "TypingMark": {"state": "paused"},
    "ReadMark": {"message_id": "msg_18d2c4e5f6a0b1c2d3e4f5a6b7c"},
    "IdentityBody": {"kind": "phone", "value": "+358401234567"},
    "CasePatch": {"status": "resolved", "priority": 2},
    "InboundBody": {"channel": "shop-chat", "from": {"kind": "email", "value": "bob@example.com"},
                    "text": "My router died", "external_id": "shop-msg-1001", "name": "Bob"},
    "InteractionCreate": {"channel": "voice", "to": "+358401234567"},
    "RejectBody": {"reason": "not my language"},
    "TransferBody": {"queue": "billing"},
    "ReplyBody": {"text": "On it! I will check your order now.", "mode": "private"},
    "DtmfBody": {"digits": "12#"},
    "ParticipantBody": {"agent_id": "bob", "mode": "consult"},
    "ModeBody": {"mode": "conference"},
    "MonitorBody": {"mode": "listen", "endpoint": "sip:supervisor@pbx.example.com"},
    "MonitorModeBody": {"mode": "whisper"},
    "RecordingBody": {"action": "pause"},
    "DecisionBody": {"decision": "approve", "text": "@dana Sorry for the wait: your refund left today."},
    "WrapupBody": {"disposition": "solved", "notes": "router replaced under warranty"},
    "AbandonBody": {"reason": "the customer hung up"},
    "WebhookCreate": {"url": "https://crm.example.com/cti-events", "types": ["interaction.*", "pivot.*"]},
    "TokenCreate": {"role": "agent", "agent_id": "alice", "name": "Alice's desk", "expires_in": 86400},
    "UserCreate": {"login": "alice", "name": "Alice Virtanen", "password": "a long passphrase", "role": "agent",
                   "agent_id": "alice", "language": "fi"},
    "UserPatch": {"language": "en", "disabled": False},
    "SignIn": {"login": "alice", "password": "a long passphrase"},
    "NoteBody": {"text": "Customer is travelling until Friday; call after 16:00."},
    "CannedReplyBody": {"title": "Tracking sent", "language": "fi", "shortcut": "seuranta",
                        "text": "Hei {{contact.name}}, lähetimme seurantakoodin sähköpostiisi. "
                                "Terveisin {{agent.name}}"},
    "CannedReplyPatch": {"text": "Hei {{contact.name}}, seurantakoodi on nyt sähköpostissasi."},
    "ContactPatch": {"name": "Mikko Laine", "language": "fi",
                     "attributes": {"vip": True, "lifetime_value": 1200.0, "purchases": 7, "note": None}},
    "PivotBody": {"to": "callback", "send": True, "mode": "private", "expires_in": 3600},
    "SoftphoneOffer": {"type": "offer", "sdp": "v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
                                               "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"},
    "RoutingPolicy": {"offer_timeout": 20, "voice_blocks_written": True, "queues": [{"name": "default"}]},
}

_INTERACTION = {"id": "int_1a2b3c", "case_id": "cas_9f8e7d", "contact_id": "con_5d4c3b", "channel": "x",
                "direction": "inbound", "initiation": "inbound", "state": "offered", "queue": "default",
                "agent_id": "alice", "created_at": "2026-12-05T09:30:00Z"}
_MESSAGE = {"id": "msg_77aa", "interaction_id": "int_1a2b3c", "case_id": "cas_9f8e7d", "channel": "x",
            "direction": "outbound", "text": "On it!", "status": "queued", "created_at": "2026-12-05T09:31:00Z"}

RESPONSES: dict[str, Any] = {
    "InteractionOut": _INTERACTION,
    "MessageOut": _MESSAGE,
    "CaseOut": {"id": "cas_9f8e7d", "contact_id": "con_5d4c3b", "status": "open", "priority": 0,
                "created_at": "2026-12-05T09:30:00Z"},
    "AgentOut": {"id": "alice", "name": "Alice Virtanen", "skills": {"fi": 3}, "capacity": {"chat": 3},
                 "state": "available", "voice_endpoint": "sip:alice@pbx.example.com"},
    "TokenOut": {"id": "tok_3c2b", "role": "agent", "agent_id": "alice", "created_at": "2026-12-05T08:00:00Z",
                 "expires_at": "2026-12-06T08:00:00Z", "token": "cti_…shown once…"},
    "Event": {"seq": 4211, "type": "interaction.offered", "ts": "2026-12-05T09:30:02Z", "case_id": "cas_9f8e7d",
              "interaction_id": "int_1a2b3c", "agent_id": "alice", "data": {"interaction": _INTERACTION}},
}
