"""Vendor webhook ingest: signed X, Meta, WhatsApp and Twilio SMS webhooks accepted and durably stored.

    .venv/bin/python -m bench.webhooks [--seconds 10] [--connections 32]

For each vendor format, this process pre-signs enough unique deliveries (X Account Activity DMs,
Meta Messenger messages, WhatsApp Cloud API text messages, Twilio SMS forms; 1,000 distinct
customers, so conversations both start and continue) and wrk sends them to a ``cti serve``
process (SQLite, synchronous=FULL) as fast as it answers. Each answer comes after the message is
committed (store first); social listening scores X and Meta messages on the way in. After each
run the messages in the database are counted against the 2xx answers. Target (issue 6):
>= 1,000 events/s per vendor, p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import urllib.parse
import uuid
from pathlib import Path

from bench.common import run_wrk, start_server
from sip_test_env.emulators.meta import meta_signature
from sip_test_env.emulators.twilio import twilio_signature
from sip_test_env.emulators.x import x_signature

CONFIG = """
[connectors.x]
consumer_secret = "x-secret"
bearer_token = "x-token"
account_id = "1000"
api_base = "http://127.0.0.1:9"
[connectors.meta]
app_secret = "meta-secret"
verify_token = "meta-verify"
page_token = "meta-token"
api_base = "http://127.0.0.1:9"
[connectors.whatsapp]
phone_number_id = "106540352242922"
access_token = "wa-token"
app_secret = "wa-secret"
verify_token = "wa-verify"
api_base = "http://127.0.0.1:9"
[connectors.twilio]
account_sid = "AC00000000000000000000000000000000"
auth_token = "twilio-token"
phone_number = "+15550100"
api_base = "http://127.0.0.1:9"
"""
LUA = """
local bodies = {BODIES}
local sigs = {SIGS}
local i = 0
request = function()
  i = i + 1
  local k = ((i - 1) % #bodies) + 1
  return wrk.format("POST", "PATH", {["Content-Type"] = "CTYPE", ["HEADER"] = sigs[k]}, bodies[k])
end
"""


def server_cpu_seconds(server: object) -> float:
    """User + system CPU the server process has used (from /proc): a figure the machine's noise
    moves far less than a rate does."""
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()  # type: ignore[attr-defined]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def x_delivery(n: int, run: str) -> tuple[str, str]:
    sender = str(3_000_000 + n % 1000)
    body = json.dumps({"for_user_id": "1000", "direct_message_events": [{
        "type": "message_create", "id": f"{int(run, 16)}{n:09d}", "created_timestamp": "1700000000000",
        "message_create": {"target": {"recipient_id": "1000"}, "sender_id": sender,
                           "message_data": {"text": f"my order {n} has not arrived, please help"}}}],
        "users": {sender: {"id": sender, "name": f"Customer {sender}", "screen_name": f"c{sender}"}}})
    return body, x_signature("x-secret", body.encode())


def meta_delivery(n: int, run: str) -> tuple[str, str]:
    body = json.dumps({"object": "page", "entry": [{"id": "100200300", "time": 1700000000000, "messaging": [{
        "sender": {"id": str(5_000_000 + n % 1000)}, "recipient": {"id": "100200300"}, "timestamp": 1700000000000,
        "message": {"mid": f"m_{run}_{n}", "text": f"Hei, tilaus {n} ei ole tullut 😞"}}]}]})
    return body, meta_signature("meta-secret", body.encode())


def whatsapp_delivery(n: int, run: str) -> tuple[str, str]:
    sender = str(358_400_000_000 + n % 1000)
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": f"Asiakas {n % 1000}"}, "wa_id": sender}],
            "messages": [{"from": sender, "id": f"wamid.{run}{n:09d}", "timestamp": "1700000000", "type": "text",
                          "text": {"body": f"Hei, tilaus {n} ei ole tullut"}}]}}]}]}, ensure_ascii=True)
    return body, meta_signature("wa-secret", body.encode())


def twilio_delivery(n: int, run: str, url: str) -> tuple[str, str]:
    params = {"AccountSid": "AC00000000000000000000000000000000", "ApiVersion": "2010-04-01",
              "MessageSid": f"SM{run}{n:024x}", "From": f"+35840{7_000_000 + n % 1000}", "To": "+15550100",
              "Body": f"Missä on tilaus {n}?", "NumMedia": "0"}
    return urllib.parse.urlencode(params), twilio_signature("twilio-token", url, params)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--deliveries", type=int, default=30_000, help="pre-signed unique deliveries per vendor")
    args = parser.parse_args()
    server = start_server(CONFIG)
    server.start()
    try:
        db = sqlite3.connect(server.workdir / "data" / "cti.db")
        print(f"{'vendor':8s} {'events/s':>9s} {'p50 ms':>7s} {'p99 ms':>7s} {'2xx':>7s} {'stored':>7s}  non-2xx"
              "  server CPU us/event")
        for vendor, path, ctype, header in (
                ("x", "/webhooks/x", "application/json", "x-twitter-webhooks-signature"),
                ("meta", "/webhooks/meta", "application/json", "X-Hub-Signature-256"),
                ("whatsapp", "/webhooks/whatsapp", "application/json", "X-Hub-Signature-256"),
                ("twilio", "/webhooks/twilio/sms", "application/x-www-form-urlencoded", "X-Twilio-Signature")):
            run = uuid.uuid4().hex[:8]
            url = server.url + path
            made = [x_delivery(n, run) if vendor == "x" else meta_delivery(n, run) if vendor == "meta"
                    else whatsapp_delivery(n, run) if vendor == "whatsapp" else twilio_delivery(n, run, url)
                    for n in range(args.deliveries)]
            script = (LUA.replace("{BODIES}", "{" + ",".join(_lua_string(b) for b, _ in made) + "}")
                      .replace("{SIGS}", "{" + ",".join(_lua_string(s) for _, s in made) + "}")
                      .replace("PATH", path).replace("CTYPE", ctype).replace("HEADER", header))
            before = db.execute("SELECT count(*) FROM messages WHERE channel = ?", (vendor,)).fetchone()[0]
            cpu = server_cpu_seconds(server)
            result = run_wrk(url, seconds=args.seconds, connections=args.connections, script=script)
            cpu = server_cpu_seconds(server) - cpu
            stored = db.execute("SELECT count(*) FROM messages WHERE channel = ?", (vendor,)).fetchone()[0] - before
            answered = result["requests"] - result["non_2xx"]
            unique_answered = min(answered, args.deliveries)
            per_event = cpu * 1e6 / max(1, result["requests"])
            print(f"{vendor:8s} {result['rps']:9.0f} {result['p50_ms']:7.2f} {result['p99_ms']:7.2f} "
                  f"{answered:7.0f} {stored:7d}  {result['non_2xx']:<7.0f}  {per_event:.0f}")
            if stored < unique_answered:
                raise SystemExit(f"{vendor}: only {stored} stored for {unique_answered:.0f} unique answered deliveries")
            if answered > args.deliveries:
                print(f"{'':8s} (the first {args.deliveries} deliveries were unique; the rest were replays, "
                      f"acknowledged without storing again)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
