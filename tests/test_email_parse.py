"""Email parsing: encoded headers in the product's languages, HTML reduced to text, attachments, bad input."""

from __future__ import annotations

import base64
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import pytest

from connectors.email.parse import html_to_text, parse_mail

LANGUAGES = [
    ("fi", "Tilaukseni on myöhässä – pyydän apua", "Hei, paketti ei ole vielä tullut. Kiitos jo etukäteen!",
     "Äänekoski Öhman"),
    ("zh", "我的订单还没有到", "你好，我的包裹还没有收到。谢谢！", "王小明"),
    ("ko", "주문이 아직 도착하지 않았습니다", "안녕하세요, 택배가 아직 안 왔어요. 감사합니다!", "김민준"),
    ("pl", "Zamówienie nie dotarło – proszę o pomoc", "Dzień dobry, paczka jeszcze nie dotarła. Dziękuję!",
     "Łukasz Żółć"),
]


@pytest.mark.parametrize(("charset", "header_encoding"), [("utf-8", "b"), ("utf-8", "q")])
@pytest.mark.parametrize(("lang", "subject", "body", "name"), LANGUAGES, ids=[lang for lang, *_ in LANGUAGES])
def test_encoded_headers_and_bodies_in_every_seed_language(lang: str, subject: str, body: str, name: str,
                                                           charset: str, header_encoding: str) -> None:
    encoded_subject = Header(subject, charset).encode() if header_encoding == "b" else \
        "=?utf-8?q?" + "".join(f"={b:02X}" for b in subject.encode()) + "?="
    encoded_name = Header(name, charset).encode()
    raw = (f"From: {encoded_name} <asiakas@example.test>\r\nTo: support@example.test\r\n"
           f"Subject: {encoded_subject}\r\nMessage-ID: <{lang}-1@example.test>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode()
    raw += base64.encodebytes(body.encode())
    mail = parse_mail(raw)
    assert mail.subject == subject
    assert mail.sender_name == name
    assert mail.sender == "asiakas@example.test"
    assert mail.text == body
    assert mail.message_id == f"<{lang}-1@example.test>"


@pytest.mark.parametrize(("charset", "text"), [("iso-8859-1", "Hyvää päivää, tilaus myöhässä"),
                                               ("iso-8859-2", "Dzień dobry, zamówienie"),
                                               ("gb2312", "你好，订单"), ("euc-kr", "안녕하세요 주문")])
def test_legacy_charsets_are_decoded(charset: str, text: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@example.test", "legacy"
    msg.set_content(text, charset=charset)
    assert parse_mail(msg.as_bytes(policy=SMTP_POLICY)).text == text


def test_html_only_mail_is_reduced_to_safe_text() -> None:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@example.test", "html"
    msg.set_content("<html><head><style>p{color:red}</style><script>alert('x')</script></head>"
                    "<body><p>Hello <b>there</b></p><p>See <a href='https://shop.example/o/1'>your order</a>"
                    "</p><img src='https://tracker.example/p.gif'></body></html>", subtype="html")
    mail = parse_mail(msg.as_bytes())
    assert mail.text == "Hello there\n\nSee your order (https://shop.example/o/1)"
    assert mail.had_html and "<" not in mail.text and "alert" not in mail.text and "color" not in mail.text


def test_plain_part_preferred_over_html() -> None:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@example.test", "both"
    msg.set_content("plain words")
    msg.add_alternative("<p>html words</p>", subtype="html")
    assert parse_mail(msg.as_bytes()).text == "plain words"


def test_attachments_kept_with_name_type_size_and_oversized_dropped_with_a_note() -> None:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@example.test", "files"
    msg.set_content("see attached")
    msg.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf", filename="lasku.pdf")
    msg.add_attachment(b"x" * 5000, maintype="image", subtype="png", filename="zdjęcie.png")
    mail = parse_mail(msg.as_bytes(), attachment_limit=1000)
    small, big = mail.attachments
    assert (small.filename, small.content_type, small.size, small.content) == (
        "lasku.pdf", "application/pdf", 14, b"%PDF-1.4 small")
    assert (big.filename, big.content_type, big.size, big.content) == ("zdjęcie.png", "image/png", 5000, None)
    assert big.dropped == "over the 1000 byte limit"
    assert "[Attachment zdjęcie.png (5000 bytes) was dropped: over the 1000 byte limit.]" in mail.text


def test_threading_headers_and_case_tag() -> None:
    raw = (b"From: a@example.test\r\nSubject: Re: Broken router [#cas_018f2c4e5f60123456789abcdef]\r\n"
           b"Message-ID: <r2@example.test>\r\nIn-Reply-To: <r1@support.example>\r\n"
           b"References: <r0@example.test>\r\n <r1@support.example>\r\n\r\nthanks\r\n")
    mail = parse_mail(raw)
    assert mail.references == ["<r0@example.test>", "<r1@support.example>"]
    assert mail.in_reply_to == "<r1@support.example>"
    assert mail.case_tag == "cas_018f2c4e5f60123456789abcdef"


@pytest.mark.parametrize(("header", "expected"), [
    ("Auto-Submitted: auto-replied", "auto-replied"),
    ("Auto-Submitted: auto-generated", "auto-generated"),
    ("Precedence: bulk", "precedence:bulk"),
    ("X-Autoreply: yes", "auto-replied"),
    ("Auto-Submitted: no", None),
])
def test_auto_replies_are_recognised(header: str, expected: str | None) -> None:
    raw = f"From: a@example.test\r\nSubject: Out of office\r\n{header}\r\n\r\nI am away\r\n".encode()
    assert parse_mail(raw).auto_submitted == expected


@pytest.mark.parametrize("raw", [
    b"",
    b"\x00\xff\xfe garbage without headers",
    b"From: a@example.test\r\nContent-Type: multipart/mixed; boundary=\"never\"\r\n\r\nno parts here",
    b"From: a@example.test\r\nSubject: =?unknown-charset?b?SGVq?=\r\nContent-Type: text/plain; charset=x-nope\r\n"
    b"\r\nbody \xe4\xf6",
    b"From: \"unterminated <a@example.test\r\nSubject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64",
])
def test_malformed_mail_never_raises_and_keeps_something_readable(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert mail.text and mail.sender


def test_html_to_text_handles_broken_markup() -> None:
    assert html_to_text("<p>unclosed <b>bold<div>next") == "unclosed bold\nnext"
