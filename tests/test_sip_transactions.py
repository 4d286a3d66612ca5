"""RFC 3261 section 17 transactions, driven by recorded messages and a fake clock (no sockets)."""

from __future__ import annotations

import pytest

from connectors.sip.address import parse_address
from connectors.sip.message import Request, Response, make_response, parse_message
from connectors.sip.transaction import AckTimeout, Incoming, Send, Timeout, TransactionLayer

PHONE = ("127.0.0.1", 5062)
PHONE_VIA = "127.0.0.1:5062"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request(method: str, *, branch: str = "z9hG4bKtx1", cseq: int = 1, rport: bool = False,
            sent_by: str = "127.0.0.1:5080") -> Request:
    """A request as the server sends it (sent_by its own port), or as a phone does (sent_by=PHONE_VIA)."""
    raw = (f"{method} sip:bob@127.0.0.1:5062 SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP {sent_by};branch={branch}{';rport' if rport else ''}\r\n"
           "From: <sip:cti@127.0.0.1>;tag=cti1\r\nTo: <sip:bob@127.0.0.1>\r\n"
           f"Call-ID: call-1@127.0.0.1\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    parsed = parse_message(raw.encode())
    assert isinstance(parsed, Request)
    return parsed


def run_until(layer: TransactionLayer, clock: Clock, until: float) -> list[tuple[float, object]]:
    """Advance the clock timer by timer, collecting (time, action)."""
    seen: list[tuple[float, object]] = []
    while (deadline := layer.next_deadline()) is not None and deadline <= until:
        clock.now = deadline
        seen += [(round(clock.now - 1000.0, 3), action) for action in layer.poll()]
    clock.now = until
    return seen


def sends(seen: list[tuple[float, object]]) -> list[float]:
    return [t for t, action in seen if isinstance(action, Send)]


def test_client_invite_retransmits_with_doubling_timer_a_then_times_out_at_b() -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    invite = request("INVITE")
    _, first = layer.send_request(invite, PHONE)
    assert first == [Send(invite, PHONE)]
    seen = run_until(layer, clock, 1000.0 + 40)
    assert sends(seen) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    timeouts = [(t, a) for t, a in seen if isinstance(a, Timeout)]
    assert [t for t, _ in timeouts] == [32.0] and not layer.transactions


def test_client_invite_provisional_stops_retransmissions_and_errors_are_acked_once_delivered_once() -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    invite = request("INVITE")
    key, _ = layer.send_request(invite, PHONE)
    ringing = layer.receive(make_response(invite, 180, "Ringing", to_tag="bob1"), PHONE)
    assert [type(a) for a in ringing] == [Incoming]
    assert sends(run_until(layer, clock, 1000.0 + 10)) == []  # no retransmission after a provisional

    busy = make_response(invite, 486, "Busy Here", to_tag="bob1")
    actions = layer.receive(busy, PHONE)
    ack = next(a.message for a in actions if isinstance(a, Send))
    assert isinstance(ack, Request) and ack.method == "ACK" and ack.cseq == (1, "ACK")
    assert ack.headers.get("Via") == invite.headers.get("Via")  # same branch: the ACK belongs to the transaction
    assert parse_address(ack.headers.get("To") or "").tag == "bob1"
    assert [a.message.status for a in actions if isinstance(a, Incoming)] == [486]

    again = layer.receive(busy, PHONE)  # the 486 retransmitted: ACK again, the user hears nothing new
    assert [type(a) for a in again] == [Send] and again[0].message.method == "ACK"
    run_until(layer, clock, clock.now + 32.1)  # timer D
    assert key not in layer.transactions


def test_client_non_invite_retransmits_capped_at_t2_and_absorbs_retransmitted_finals() -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    bye = request("BYE", branch="z9hG4bKbye")
    layer.send_request(bye, PHONE)
    seen = run_until(layer, clock, 1000.0 + 12)
    assert sends(seen) == [0.5, 1.5, 3.5, 7.5, 11.5]  # 0.5, 1, 2, 4, then 4 s (T2) apart
    ok = make_response(bye, 200, "OK", to_tag="bob1")
    assert [type(a) for a in layer.receive(ok, PHONE)] == [Incoming]
    assert layer.receive(ok, PHONE) == []  # retransmitted 200: absorbed
    assert sends(run_until(layer, clock, clock.now + 10)) == []


def test_client_non_invite_times_out_at_f() -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    layer.send_request(request("OPTIONS", branch="z9hG4bKopt"), PHONE)
    seen = run_until(layer, clock, 1000.0 + 33)
    assert [t for t, a in seen if isinstance(a, Timeout)] == [32.0]


def test_retransmitted_invite_is_absorbed_and_never_starts_a_second_call() -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    invite = request("INVITE", branch="z9hG4bKin1", rport=True)
    first = layer.receive(invite, ("127.0.0.1", 40000))
    assert [type(a) for a in first] == [Send, Incoming]
    trying = first[0]
    assert isinstance(trying, Send) and trying.message.status == 100 and trying.target == ("127.0.0.1", 40000)
    key = first[1].key
    for _ in range(3):
        again = layer.receive(invite, ("127.0.0.1", 40000))
        assert [type(a) for a in again] == [Send] and again[0].message.status == 100
    layer.respond(key, make_response(invite, 180, "Ringing", to_tag="srv"))
    again = layer.receive(invite, ("127.0.0.1", 40000))
    assert again[0].message.status == 180  # the latest provisional is what a retransmission gets


def test_after_a_2xx_retransmitted_invites_are_absorbed_until_timer_l() -> None:
    """RFC 6026: our 200 OK was lost, so the caller sends the INVITE again; that must not reach the
    user as a new call (nor get a stale 100), and the transaction ends 64*T1 later."""
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    invite = request("INVITE", branch="z9hG4bKacc", rport=True)
    key = layer.receive(invite, ("127.0.0.1", 40000))[1].key
    ok = make_response(invite, 200, "OK", to_tag="srv")
    assert layer.respond(key, ok) == [Send(ok, ("127.0.0.1", 40000))]
    clock.now += 0.2
    assert layer.receive(invite, ("127.0.0.1", 40000)) == []  # absorbed, not a second call
    assert layer.transactions[key].state == "accepted"
    run_until(layer, clock, clock.now + 33)
    assert key not in layer.transactions  # timer L
    assert [type(a) for a in layer.receive(invite, ("127.0.0.1", 40000))] == [Send, Incoming]  # only then new


def test_server_invite_error_is_retransmitted_until_ack_then_absorbed() -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    invite = request("INVITE", branch="z9hG4bKin2", sent_by=PHONE_VIA)
    key = layer.receive(invite, PHONE)[1].key
    busy = make_response(invite, 486, "Busy Here", to_tag="srv")
    assert layer.respond(key, busy) == [Send(busy, PHONE)]
    assert sends(run_until(layer, clock, 1000.0 + 4)) == [0.5, 1.5, 3.5]  # timer G
    ack = request("ACK", branch="z9hG4bKin2", sent_by=PHONE_VIA)
    ack.headers.set("To", busy.headers.get("To") or "")
    assert layer.receive(ack, PHONE) == []  # ACK for the error ends it inside the transaction layer
    assert sends(run_until(layer, clock, clock.now + 20)) == []
    assert key not in layer.transactions  # timer I


def test_server_invite_error_without_ack_times_out_at_h() -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    invite = request("INVITE", branch="z9hG4bKin3", sent_by=PHONE_VIA)
    key = layer.receive(invite, PHONE)[1].key
    layer.respond(key, make_response(invite, 603, "Decline", to_tag="srv"))
    seen = run_until(layer, clock, 1000.0 + 40)
    assert sends(seen) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [t for t, a in seen if isinstance(a, Timeout)] == [32.0]


@pytest.mark.parametrize("acked", [True, False])
def test_a_2xx_to_invite_is_retransmitted_until_its_ack(acked: bool) -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    invite = request("INVITE", branch="z9hG4bKin4", sent_by=PHONE_VIA)
    key = layer.receive(invite, PHONE)[1].key
    ok = make_response(invite, 200, "OK", to_tag="srv")
    assert layer.respond(key, ok) == [Send(ok, PHONE)]
    assert sends(run_until(layer, clock, 1000.0 + 4)) == [0.5, 1.5, 3.5]
    if acked:
        ack = request("ACK", branch="z9hG4bKack", sent_by=PHONE_VIA)  # a 2xx's ACK is its own transaction
        events = layer.receive(ack, PHONE)
        assert [type(a) for a in events] == [Incoming]  # the dialog layer sees it
        assert run_until(layer, clock, clock.now + 40) == []
    else:
        seen = run_until(layer, clock, 1000.0 + 40)
        assert sends(seen) == [7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
        assert [type(a) for _, a in seen if not isinstance(a, Send)] == [AckTimeout]


def test_server_non_invite_absorbs_retransmissions_and_replays_its_final() -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    bye = request("BYE", branch="z9hG4bKbye2", cseq=2, sent_by=PHONE_VIA)
    events = layer.receive(bye, PHONE)
    assert [type(a) for a in events] == [Incoming]
    assert layer.receive(bye, PHONE) == []  # no answer yet: the retransmission is dropped
    ok = make_response(bye, 200, "OK", to_tag="srv")
    layer.respond(events[0].key, ok)
    assert layer.receive(bye, PHONE) == [Send(ok, PHONE)]
    run_until(layer, clock, 1000.0 + 33)  # timer J
    assert layer.transactions == {}


def test_a_2xx_retransmission_after_the_client_transaction_ended_goes_to_the_user() -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    invite = request("INVITE", branch="z9hG4bKout")
    layer.send_request(invite, PHONE)
    ok = make_response(invite, 200, "OK", to_tag="bob1")
    assert [type(a) for a in layer.receive(ok, PHONE)] == [Incoming]
    stray = layer.receive(ok, PHONE)
    assert len(stray) == 1 and isinstance(stray[0], Incoming) and stray[0].stray


def test_reliable_transport_never_retransmits() -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock, reliable=True)
    layer.send_request(request("INVITE", branch="z9hG4bKtcp"), PHONE)
    seen = run_until(layer, clock, 1000.0 + 40)
    assert sends(seen) == [] and [t for t, a in seen if isinstance(a, Timeout)] == [32.0]


def test_responses_for_unknown_transactions_and_cancel_are_separate() -> None:
    clock = Clock()
    layer = TransactionLayer(clock=clock)
    invite = request("INVITE", branch="z9hG4bKsame", sent_by=PHONE_VIA)
    cancel = request("CANCEL", branch="z9hG4bKsame", sent_by=PHONE_VIA)
    invite_events = layer.receive(invite, PHONE)
    cancel_events = layer.receive(cancel, PHONE)
    assert invite_events[1].key != cancel_events[0].key  # same branch, its own transaction (17.2.3)
    assert isinstance(cancel_events[0], Incoming) and cancel_events[0].message.method == "CANCEL"
    unknown = Response(status=200, reason="OK")
    unknown.headers = make_response(request("OPTIONS", branch="z9hG4bKnone"), 200, "OK").headers
    assert layer.receive(unknown, PHONE)[0].stray is True
