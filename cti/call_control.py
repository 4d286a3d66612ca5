"""What the API asks of telephony beyond the state machine: send DTMF, transfer out to a number.

The connector carrying a call may run on another node (it runs where its lease is), so a
command is not a function call: it is a ``call.command`` event, stored with who asked and
published to every node; the connector holding the call acts on it and reports the outcome as
its own events (``call.dtmf`` with direction "sent", ``call.transferred`` or
``call.transfer_failed``). MakeCall works the same way from ``interaction.accepted``.
"""

from __future__ import annotations

import re

from cti.services import calls
from cti.services.actors import Actor
from cti.services.identities import normalize_identity
from cti.storage.db import Database

EXTENSION = re.compile(r"^\d{2,8}$")


class VoiceControl:
    """The API's handle on calls; exists when a voice connector is configured."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def send_dtmf(self, interaction_id: str, digits: str, *, actor: Actor) -> None:
        """Have the digits played to the customer (RFC 4733) on a connected call."""
        await self.db.write(lambda tx: calls.request_call_command(
            tx, interaction_id, {"action": "dtmf", "digits": digits.upper()}, actor=actor))

    async def transfer_to_number(self, interaction_id: str, number: str, *, actor: Actor) -> str:
        """Blind transfer out: the server rings the number and, once it answers, connects the
        caller to it and releases the agent. Returns the normalized number or SIP URI."""
        target = target_of(number)
        await self.db.write(lambda tx: calls.request_call_command(
            tx, interaction_id, {"action": "transfer", "to": target}, actor=actor))
        return target


def target_of(number: str) -> str:
    """An internal extension (2 to 8 digits, kept as given), an E.164 number (parsed and
    normalized by phonenumbers) or a SIP URI; anything else is refused with a 400."""
    value = number.strip()
    if EXTENSION.match(value):
        return value
    kind = "sip" if value.lower().startswith("sip:") else "phone"
    return normalize_identity(kind, value, field="number")[1]
