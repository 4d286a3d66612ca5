"""Email ingest from a real Dovecot mailbox holding 5,000 messages (target: at least 200 messages/s).

    .venv/bin/python -m bench.email_ingest [--messages 5000]

The mailbox is filled over LMTP before the server starts (not timed): a realistic mix of plain
text in Finnish, Chinese, Korean and Polish with RFC 2047 subjects, multipart plain+HTML,
HTML-only, and mail with a 20 KB attachment; 200 customers, a quarter of the mail answering an
earlier message. Then ``cti serve`` starts with the email connector and reads the whole mailbox
(IMAP fetch, MIME parsing, attachment storage, threading, contact/case/interaction/message
rows and their events, durable on SQLite). Printed: time to the first stored message and the
rate from first to last (read from the database file, read-only, every 50 ms).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from sip_test_env.mail import MailServer
from tests.processes import ServerProcess

TEXTS = [
    ("Tilaus myöhässä", "Hei, pakettini ei ole vielä tullut. Voitteko tarkistaa tilauksen tilan?"),
    ("我的订单还没有到", "你好，我的包裹还没有收到。请帮我查一下订单状态，谢谢！"),
    ("주문이 도착하지 않았습니다", "안녕하세요, 택배가 아직 안 왔어요. 주문 상태를 확인해 주세요."),
    ("Zamówienie nie dotarło", "Dzień dobry, paczka jeszcze nie dotarła. Proszę o sprawdzenie statusu."),
]


def build_mail(n: int, rng: random.Random) -> bytes:
    subject, text = TEXTS[n % len(TEXTS)]
    customer = f"customer{rng.randrange(200)}@example.test"
    msg = EmailMessage(policy=default_policy)
    msg["From"], msg["To"] = f"Asiakas {n} <{customer}>", "support@example.test"
    msg["Subject"], msg["Message-ID"] = f"{subject} #{n}", f"<bench-{n}@example.test>"
    if n > 10 and rng.random() < 0.25:
        earlier = rng.randrange(n)
        msg["In-Reply-To"] = msg["References"] = f"<bench-{earlier}@example.test>"
    kind = rng.random()
    body = (text + "\n") * rng.randint(1, 6)
    if kind < 0.60:
        msg.set_content(body)
    elif kind < 0.85:
        msg.set_content(body)
        msg.add_alternative(f"<html><body><p>{body}</p><p><a href='https://shop.example/o/{n}'>tilaus</a></p>"
                            "</body></html>", subtype="html")
    elif kind < 0.95:
        msg.set_content(body)
        msg.add_attachment(rng.randbytes(20_000), maintype="application", subtype="pdf", filename=f"kuitti-{n}.pdf")
    else:
        msg.set_content(f"<html><body><div>{body}</div></body></html>", subtype="html")
    return msg.as_bytes()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    rng = random.Random(7)
    mail = MailServer().start()
    server: ServerProcess | None = None
    try:
        started = time.monotonic()
        raw = [build_mail(n, rng) for n in range(args.messages)]
        mail.deliver("support@example.test", raw)
        print(f"mailbox filled: {args.messages} messages, {sum(map(len, raw)) / 1e6:.1f} MB "
              f"in {time.monotonic() - started:.1f} s (not part of the figure)")
        workdir = Path(tempfile.mkdtemp(prefix="cti-bench-email-"))
        config = (f'[connectors.email]\nimap_port = {mail.imap_port}\nsmtp_port = {mail.smtp_port}\ntls = "none"\n'
                  'username = "support"\npassword = "supportpass"\nfrom_address = "support@example.test"\n')
        server = ServerProcess(workdir, config_text=config, node_id="bench")
        t0 = time.monotonic()
        server.start()
        database = workdir / "data" / "cti.db"
        first_at = None
        count = 0
        while count < args.messages:
            time.sleep(0.05)
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
                count = conn.execute("SELECT count(*) FROM messages WHERE channel = 'email'").fetchone()[0]
            if count and first_at is None:
                first_at = time.monotonic()
            if time.monotonic() - t0 > 600:
                raise SystemExit(f"only {count} messages stored after 600 s")
        done = time.monotonic()
        assert first_at is not None
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
            cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
            attachments = conn.execute("SELECT count(*) FROM messages WHERE attachments IS NOT NULL").fetchone()[0]
        rate = (args.messages - 1) / max(done - first_at, 1e-9)
        print(f"server start to first message stored: {first_at - t0:.2f} s")
        print(f"email ingest: {args.messages} messages in {done - first_at:.2f} s = {rate:.0f} messages/s "
              f"(target >= 200); start to last: {done - t0:.2f} s; {cases} cases, {attachments} with attachments")
    finally:
        if server is not None:
            server.stop()
        mail.stop()


if __name__ == "__main__":
    main()
