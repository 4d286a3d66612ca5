"""Dialogs (RFC 3261 section 12): the state that in-dialog requests are built from."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.sip.address import parse_address, parse_uri
from connectors.sip.endpoint import SipEndpoint
from connectors.sip.message import Request, Response
from connectors.sip.transaction import Addr


@dataclass
class Dialog:
    """One dialog as seen from our side."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str  # the peer's Contact: where in-dialog requests go
    route_set: list[str] = field(default_factory=list)
    local_seq: int = 1
    remote_seq: int | None = None

    @classmethod
    def from_uac(cls, invite: Request, response: Response) -> Dialog:
        """The dialog a 2xx (or 1xx with a To tag) creates for the caller (12.1.2)."""
        local, remote = parse_address(invite.headers.get("From") or ""), parse_address(response.headers.get("To") or "")
        contact = response.headers.get("Contact")
        target = parse_address(contact).uri if contact else invite.uri
        routes = list(reversed(response.headers.get_all("Record-Route")))
        return cls(invite.call_id, local.tag or "", remote.tag or "", local.uri, remote.uri, target, routes,
                   invite.cseq[0])

    @classmethod
    def from_uas(cls, invite: Request, local_tag: str) -> Dialog:
        """The dialog our 2xx to an INVITE creates (12.1.1)."""
        remote, local = parse_address(invite.headers.get("From") or ""), parse_address(invite.headers.get("To") or "")
        contact = invite.headers.get("Contact")
        target = parse_address(contact).uri if contact else remote.uri
        return cls(invite.call_id, local_tag, remote.tag or "", local.uri, remote.uri, target,
                   invite.headers.get_all("Record-Route"), local_seq=0, remote_seq=invite.cseq[0])

    def next_hop(self, default: Addr) -> Addr:
        """Where to send an in-dialog request: the first route, else the remote target (else default)."""
        uri = parse_address(self.route_set[0]).uri if self.route_set else self.remote_target
        try:
            return parse_uri(uri).hostport
        except ValueError:
            return default

    def request(self, endpoint: SipEndpoint, method: str, *, body: bytes = b"",
                content_type: str | None = None) -> Request:
        """A new in-dialog request (not ACK) with the next CSeq."""
        self.local_seq += 1
        request = self._base(endpoint, method, self.local_seq)
        if body:
            request.body = body
            request.headers.add("Content-Type", content_type or "application/sdp")
        return request

    def ack(self, endpoint: SipEndpoint, invite_seq: int) -> Request:
        """The ACK for a 2xx to our INVITE (13.2.2.4): its own transaction, the INVITE's CSeq number."""
        return self._base(endpoint, "ACK", invite_seq)

    def transport(self) -> str:
        """The next hop's transport: its URI's ``transport`` parameter, else UDP (RFC 3263)."""
        uri = parse_address(self.route_set[0]).uri if self.route_set else self.remote_target
        try:
            return (parse_uri(uri).params.get("transport") or "udp").lower()
        except ValueError:
            return "udp"

    def _base(self, endpoint: SipEndpoint, method: str, seq: int) -> Request:
        request = endpoint.new_request(method, self.remote_target, from_=f"<{self.local_uri}>;tag={self.local_tag}",
                                       to=f"<{self.remote_uri}>;tag={self.remote_tag}", call_id=self.call_id,
                                       seq=seq, transport=self.transport() if endpoint.streams else "udp")
        for route in self.route_set:
            request.headers.add("Route", route)
        return request
