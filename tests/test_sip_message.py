"""SIP message parsing: real phones' messages, RFC 4475-style torture, and random bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.sip.address import parse_address, parse_uri
from connectors.sip.message import Request, Response, SipParseError, make_response, parse_message, parse_via

BARESIP_INVITE = (
    b"INVITE sip:cti@127.0.0.1:5080 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1f2e3d4c;rport\r\n"
    b"Contact: <sip:alice-0x5567@127.0.0.1:5062;transport=udp>\r\n"
    b"Max-Forwards: 70\r\n"
    b'To: <sip:cti@127.0.0.1>\r\n'
    b'From: "Alice" <sip:alice@127.0.0.1>;tag=8a7f6e5d\r\n'
    b"Call-ID: 0b1c2d3e4f5a6b7c\r\n"
    b"CSeq: 21734 INVITE\r\n"
    b"User-Agent: baresip v2.9.0 (x86_64/linux)\r\n"
    b"Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE,REFER\r\n"
    b"Supported: replaces,norefersub\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length:   129\r\n"
    b"\r\n"
    b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 10000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
)


def test_a_real_phones_invite_parses_and_round_trips() -> None:
    message = parse_message(BARESIP_INVITE)
    assert isinstance(message, Request)
    assert (message.method, message.uri, message.cseq) == ("INVITE", "sip:cti@127.0.0.1:5080", (21734, "INVITE"))
    assert message.body.startswith(b"v=0") and len(message.body) == 129
    via = parse_via(message.headers.get("v") or "")
    assert (via.transport, via.host, via.port, via.branch, "rport" in via.params) == (
        "UDP", "127.0.0.1", 5062, "z9hG4bK1f2e3d4c", True)
    caller = parse_address(message.headers.get("From") or "")
    assert (caller.display, caller.uri, caller.tag) == ("Alice", "sip:alice@127.0.0.1", "8a7f6e5d")
    contact = parse_uri(parse_address(message.headers.get("Contact") or "").uri)
    assert (contact.user, contact.host, contact.port, contact.params) == (
        "alice-0x5567", "127.0.0.1", 5062, {"transport": "udp"})
    again = parse_message(message.to_bytes())
    assert isinstance(again, Request) and list(again.headers) == list(message.headers) and again.body == message.body


def test_compact_forms_folding_case_and_lists() -> None:
    raw = (b"OPTIONS sip:x@example.com SIP/2.0\r\n"
           b"v: SIP/2.0/UDP a.example.com;branch=z9hG4bKa, SIP/2.0/TCP b.example.com:5070;branch=z9hG4bKb\r\n"
           b"f: <sip:u@example.com>;tag=1\r\nt: sip:x@example.com\r\ni: abc@host\r\n"
           b"cSeQ: 5 OPTIONS\r\nSubject: first line\r\n  continued, with a comma\r\nl: 0\r\n\r\n")
    message = parse_message(raw)
    assert [parse_via(v).host for v in message.headers.get_all("Via")] == ["a.example.com", "b.example.com"]
    assert message.headers.get("subject") == "first line continued, with a comma"
    assert message.call_id == "abc@host" and message.cseq == (5, "OPTIONS")
    assert parse_address(message.headers.get("To") or "").uri == "sip:x@example.com"


def test_a_response_and_make_response() -> None:
    request = parse_message(BARESIP_INVITE)
    assert isinstance(request, Request)
    ringing = make_response(request, 180, "Ringing", to_tag="srv1")
    parsed = parse_message(ringing.to_bytes())
    assert isinstance(parsed, Response) and (parsed.status, parsed.reason) == (180, "Ringing")
    assert parse_address(parsed.headers.get("To") or "").tag == "srv1"
    assert parsed.headers.get("Via") == request.headers.get("Via") and parsed.cseq == (21734, "INVITE")


@pytest.mark.parametrize(("raw", "reason"), [
    (BARESIP_INVITE.replace(b"127.0.0.1:5062;branch", b"127.0.0.1:70000;branch"), "Via port 70000"),
    (BARESIP_INVITE.replace(b"Content-Length:   129", b"Content-Length: 999"), "Content-Length 999"),
    (BARESIP_INVITE.replace(b"Content-Length:   129", b"Content-Length: -5"), "malformed Content-Length"),
    (BARESIP_INVITE.replace(b"Call-ID: 0b1c2d3e4f5a6b7c\r\n", b""), "missing Call-ID"),
    (BARESIP_INVITE.replace(b"CSeq: 21734 INVITE", b"CSeq: 21734 BYE"), "does not match"),
    (BARESIP_INVITE.replace(b"CSeq: 21734", b"CSeq: 99999999999"), "CSeq"),
    (BARESIP_INVITE.replace(b"SIP/2.0\r\nVia", b"SIP/7.0\r\nVia", 1), "malformed request line"),
    (BARESIP_INVITE.replace(b"Max-Forwards: 70", b"Max Forwards 70"), "malformed header line"),
    (b"SIP/2.0 999 Nope\r\n\r\n", "malformed status line"),
    (b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n", "no blank line"),
    (b"\r\n\r\n", "empty message"),
    (b"INV ITE sip:x SIP/2.0\r\n\r\n", "malformed request line"),
    (b"X" * 70_000, "over the"),
])
def test_bad_messages_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(SipParseError, match=reason):
        parse_message(raw)


def test_rfc4475_style_tortuous_but_valid_message() -> None:
    raw = (b"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"
           b"TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
           b'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\n'
           b"MaX-fOrWaRdS: 0068\r\nCall-ID: wsinv.ndaksdj@192.0.2.1\r\nContent-Length   : 0\r\n"
           b"cseq: 0009\r\n  INVITE\r\n"
           b"Via  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\n"
           b"s :\r\nNewFangledHeader:   newfangled value\r\n continued newfangled value\r\n"
           b"UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n\r\n")
    message = parse_message(raw)
    assert isinstance(message, Request) and message.cseq == (9, "INVITE")
    assert parse_via(message.headers.get("Via") or "").host == "192.0.2.2"
    assert parse_address(message.headers.get("To") or "").tag == "1918181833n"
    assert message.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_only_ever_raise_sip_parse_error(data: bytes) -> None:
    try:
        parse_message(data)
    except SipParseError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(BARESIP_INVITE) - 1), st.binary(min_size=1, max_size=8), st.integers(0, 8))
def test_mutated_real_messages_only_ever_raise_sip_parse_error(at: int, insert: bytes, cut: int) -> None:
    data = BARESIP_INVITE[:at] + insert + BARESIP_INVITE[at + cut:]
    try:
        message = parse_message(data)
    except SipParseError:
        return
    message.to_bytes()  # whatever parsed can be serialized again


def test_rfc4733_telephone_events_are_read_from_rtp() -> None:
    import struct

    from connectors.sip.relay import telephone_event
    from connectors.sip.sdp import offer, parse

    def packet(event: int, end: bool, timestamp: int, pt: int = 101) -> bytes:
        header = struct.pack("!BBHII", 0x80, pt, 7, timestamp, 0x1234)
        return header + struct.pack("!BBH", event, 0x80 if end else 0x00 | 10, 800)

    assert telephone_event(packet(5, False, 1000), 101) == ("5", 1000, False)
    assert telephone_event(packet(11, True, 2000), 101) == ("#", 2000, True)
    assert telephone_event(packet(5, True, 1000, pt=0), 101) is None  # audio, not an event
    assert telephone_event(packet(99, True, 1000), 101) is None and telephone_event(b"\x80", 101) is None
    media = parse(offer("127.0.0.1", 4000, payloads=(0, 101)))
    assert (media.host, media.port, media.payloads, media.events_payload) == ("127.0.0.1", 4000, (0, 101), 101)


def test_a_party_receives_one_continuous_rtp_stream_whatever_the_source() -> None:
    import struct

    from connectors.sip.relay import _OwnStream

    def packet(ssrc: int, seq: int, timestamp: int) -> bytes:
        return struct.pack("!BBHII", 0x80, 0, seq, timestamp, ssrc) + b"\xff" * 160

    stream = _OwnStream()
    hold = [stream.rewrite(packet(1, 60000 + i, 5000 + 160 * i)) for i in range(3)]
    agent = [stream.rewrite(packet(2, 10 + i, 900_000 + 160 * i)) for i in range(3)]  # "older" seq, far timestamp
    fields = [struct.unpack("!BBHII", p[:12]) for p in hold + agent]
    assert len({f[4] for f in fields}) == 1  # one SSRC
    assert [(f[2] - fields[0][2]) & 0xFFFF for f in fields] == [0, 1, 2, 3, 4, 5]  # consecutive sequence numbers
    assert [(f[3] - fields[0][3]) & 0xFFFFFFFF for f in fields] == [0, 160, 320, 480, 640, 800]  # timestamps carry on
    assert fields[3][1] & 0x80 and not fields[4][1] & 0x80  # marker on the first packet of the new source
    assert hold[0][12:] == agent[0][12:] == b"\xff" * 160  # payload untouched


def test_dtmf_sent_as_rfc4733_events_reads_back_as_one_key_each() -> None:
    import struct

    from connectors.sip.dtmf import event_packets
    from connectors.sip.relay import telephone_event

    packets = event_packets("#", payload_type=101, timestamp=48000, first_sequence=65534, ssrc=7, tone_ms=100)
    assert len(packets) == 5 + 3  # one per 20 ms of tone, then the end packet three times
    fields = [struct.unpack("!BBHII", p[:12]) + struct.unpack("!BBH", p[12:16]) for p in packets]
    assert [f[1] & 0x80 for f in fields] == [0x80] + [0] * 7  # marker on the first packet only
    assert {f[3] for f in fields} == {48000}  # every packet carries the event's start timestamp
    assert [f[2] for f in fields] == [65534, 65535, 0, 1, 2, 3, 4, 5]  # sequence numbers wrap
    assert [f[7] for f in fields] == [160, 320, 480, 640, 800, 800, 800, 800]  # duration grows, then holds
    assert [bool(f[6] & 0x80) for f in fields] == [False] * 5 + [True] * 3
    ends = {telephone_event(p, 101) for p in packets if telephone_event(p, 101)[2]}  # type: ignore[index]
    assert ends == {("#", 48000, True)}  # the receiver counts one key


def test_sip_over_a_stream_is_framed_by_content_length() -> None:
    import pytest

    from connectors.sip.message import SipParseError, parse_message
    from connectors.sip.stream import StreamFramer

    first = (b"MESSAGE sip:cti@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
             b"Call-ID: s1\r\nCSeq: 1 MESSAGE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:cti@127.0.0.1>\r\n"
             b"l: 5\r\n\r\nhello")
    second = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK2\r\nCall-ID: s2\r\n"
              b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    stream = b"\r\n\r\n" + first + b"\r\n" + second  # keep-alives before and between messages
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), 7):  # arriving in small pieces
        out += framer.feed(stream[i:i + 7])
    assert out == [first, second] and parse_message(out[0]).body == b"hello"
    for broken in (b"OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n", b"X" * (70 * 1024)):
        with pytest.raises(SipParseError):
            StreamFramer().feed(broken)
