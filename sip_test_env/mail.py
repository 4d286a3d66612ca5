"""A real mail system on loopback: Dovecot (IMAP + LMTP) and an SMTP front door.

Dovecot 2.3 from Debian stores mail in maildirs under a private folder, users come from a
passwd file. The SMTP side is aiosmtpd: every message it accepts is handed to Dovecot's LMTP,
so "sent by SMTP" ends in the recipient's IMAP INBOX as on a real mail host. The SMTP door can
be stopped and started again to test outages. Used by the tests, the benchmarks and the demo.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from sip_test_env.certs import self_signed
from sip_test_env.ports import free_port, wait_listening

DOMAIN = "example.test"
DOVECOT_CONF = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
listen = 127.0.0.1
protocols = imap lmtp
{ssl}
auth_mechanisms = plain login
auth_username_format = %Ln
mail_location = maildir:{base}/mail/%n
first_valid_uid = 1
default_login_user = {login_user}
default_internal_user = {login_user}
mail_uid = {mail_uid}
mail_gid = {mail_gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {base}/users
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={base}/mail/%n
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
"""


class _LmtpHandler:
    """aiosmtpd handler: pass each accepted message to Dovecot's LMTP."""

    def __init__(self, lmtp_port: int, refuse: set[str]) -> None:
        self.lmtp_port, self.refuse = lmtp_port, refuse

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=10) as lmtp:
                lmtp.sendmail(envelope.mail_from or "", envelope.rcpt_tos, envelope.original_content or b"")
        except (OSError, smtplib.SMTPException) as exc:
            return f"451 4.3.0 mailbox store failed: {exc}"
        return "250 Message accepted for delivery"


class MailServer:
    """Dovecot + SMTP door on free loopback ports, in a throwaway folder."""

    def __init__(self, users: dict[str, str] | None = None, *, tls: bool = False) -> None:
        """tls: offer STARTTLS on IMAP and SMTP with a self-signed certificate (``cert``), and require it."""
        self.users = users or {"support": "supportpass", "customer": "customerpass"}
        self.base = Path(tempfile.mkdtemp(prefix="cti-mail-"))
        self.tls = tls
        self.cert: Path | None = None
        self.imap_port, self.lmtp_port, self.smtp_port = free_port(), free_port(), free_port()
        self.refused_recipients: set[str] = set()
        self._dovecot: subprocess.Popen[bytes] | None = None
        self._smtp: Controller | None = None

    def address(self, user: str) -> str:
        """user@example.test"""
        return f"{user}@{DOMAIN}"

    def start(self) -> MailServer:
        """Start Dovecot and the SMTP door; return when both listen."""
        os.chmod(self.base, 0o755)
        (self.base / "mail").mkdir(mode=0o777, exist_ok=True)
        os.chmod(self.base / "mail", 0o777)
        (self.base / "users").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()))
        login_user = "dovenull" if _user_exists("dovenull") else "nobody"
        ssl_conf = "ssl = no\ndisable_plaintext_auth = no"
        if self.tls:
            self.cert, key = self_signed(self.base)
            ssl_conf = f"ssl = required\nssl_cert = <{self.cert}\nssl_key = <{key}\ndisable_plaintext_auth = yes"
        (self.base / "dovecot.conf").write_text(DOVECOT_CONF.format(
            base=self.base, ssl=ssl_conf, imap_port=self.imap_port, lmtp_port=self.lmtp_port, login_user=login_user,
            mail_uid=os.getuid() if os.getuid() != 0 else "nobody", mail_gid=os.getgid() if os.getuid() != 0
            else "nogroup"))
        self._launch_dovecot()
        try:
            wait_listening(self.imap_port, what="Dovecot IMAP")
            wait_listening(self.lmtp_port, what="Dovecot LMTP")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; log: {self.log_tail()}") from None
        self.start_smtp()
        return self

    def start_smtp(self) -> None:
        """Open the SMTP door (again)."""
        if self._smtp is None:
            tls: dict[str, Any] = {}
            if self.tls and self.cert is not None:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(self.cert, self.cert.with_suffix(".key"))
                tls = {"tls_context": context, "require_starttls": True}
            self._smtp = Controller(_LmtpHandler(self.lmtp_port, self.refused_recipients),
                                    hostname="127.0.0.1", port=self.smtp_port, **tls)
            self._smtp.start()

    def stop_smtp(self) -> None:
        """Close the SMTP door: senders get connection refused."""
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None

    def _launch_dovecot(self) -> None:
        # Its own process group: stopping kills master and children at once (an orderly
        # Dovecot shutdown takes up to 6 s; the maildirs are safe either way).
        self._dovecot = subprocess.Popen([shutil.which("dovecot") or "/usr/sbin/dovecot", "-F", "-c",
                                          str(self.base / "dovecot.conf")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)

    def stop_dovecot(self) -> None:
        """Stop IMAP/LMTP at once (mail stays in the maildirs); clients see the connection drop."""
        if self._dovecot is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._dovecot.pid, signal.SIGKILL)
            self._dovecot.wait(10)
            self._dovecot = None

    def restart_dovecot(self) -> None:
        """Start Dovecot again on the same ports."""
        self.stop_dovecot()
        self._launch_dovecot()
        wait_listening(self.imap_port, what="Dovecot IMAP")

    def stop(self) -> None:
        """Stop everything and remove the folder."""
        self.stop_smtp()
        self.stop_dovecot()
        shutil.rmtree(self.base, ignore_errors=True)

    def deliver(self, recipient: str, messages: list[bytes]) -> None:
        """Put raw messages straight into a mailbox over LMTP (fast filling for benchmarks)."""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=30) as lmtp:
            for raw in messages:
                lmtp.sendmail(f"sender@{DOMAIN}", [recipient], crlf(raw))

    def send(self, raw: bytes | str, *, sender: str, recipients: list[str]) -> None:
        """Send one message through the SMTP door, as a customer's mail client would."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as smtp:
            if self.tls:
                smtp.starttls(context=ssl.create_default_context(cafile=str(self.cert)))
            smtp.sendmail(sender, recipients, crlf(raw if isinstance(raw, bytes) else raw.encode()))

    def mailbox(self, user: str) -> list[bytes]:
        """Raw messages in the user's INBOX (new and seen), oldest first, read from the maildir."""
        root = self.base / "mail" / user
        files: list[Path] = []
        for sub in ("cur", "new"):
            if (root / sub).is_dir():
                files.extend((root / sub).iterdir())
        return [f.read_bytes() for f in sorted(files, key=lambda f: f.name)]

    def wait_for_mail(self, user: str, count: int = 1, *, timeout: float = 15.0) -> list[bytes]:
        """The mailbox once it holds at least count messages."""
        deadline = time.monotonic() + timeout
        while True:
            mails = self.mailbox(user)
            if len(mails) >= count:
                return mails
            if time.monotonic() > deadline:
                raise AssertionError(f"{user}'s mailbox has {len(mails)} messages, expected {count}")
            time.sleep(0.05)

    def log_tail(self, lines: int = 20) -> str:
        """The end of Dovecot's log."""
        path = self.base / "dovecot.log"
        err = ""
        if self._dovecot is not None and self._dovecot.poll() is not None and self._dovecot.stderr:
            err = self._dovecot.stderr.read().decode(errors="replace")
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:]) + err

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def crlf(raw: bytes) -> bytes:
    """Mail on the wire has CRLF line ends (RFC 5321); Python's generators write bare LF."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
