"""TwiML documents the connector answers with (pure; every value XML-escaped)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr


def _doc(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def empty() -> str:
    """Nothing to do (an SMS stored; a status noted)."""
    return _doc("")


def hold(queue: str, *, greeting: str = "", wait_url: str = "") -> str:
    """Greet the caller, then hold them in a queue named after the interaction until an agent takes it."""
    say = f"<Say>{escape(greeting)}</Say>" if greeting else ""
    wait = f" waitUrl={quoteattr(wait_url)} waitUrlMethod=\"GET\"" if wait_url else ""
    return _doc(f"{say}<Enqueue{wait}>{escape(queue)}</Enqueue>")


def stream(url: str, parameters: dict[str, str], *, greeting: str = "") -> str:
    """Greet the caller, then carry the call's audio over a Media Stream (both ways) until the
    WebSocket closes; then hang up."""
    say = f"<Say>{escape(greeting)}</Say>" if greeting else ""
    params = "".join(f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in parameters.items())
    return _doc(f"{say}<Connect><Stream url={quoteattr(url)}>{params}</Stream></Connect><Hangup/>")


def dial_sip(uri: str, *, action: str, status_callback: str, timeout: float) -> str:
    """Bridge the caller to an agent's SIP endpoint; progress of that leg goes to status_callback."""
    return _doc(f"<Dial action={quoteattr(action)} timeout=\"{int(timeout)}\" answerOnBridge=\"true\">"
                f"<Sip statusCallbackEvent=\"answered completed\" statusCallback={quoteattr(status_callback)}>"
                f"{escape(uri)}</Sip></Dial>")


def dial_number(number: str, *, action: str, status_callback: str, timeout: float, caller_id: str) -> str:
    """Call a number (the customer, after the agent answered) and bridge it."""
    return _doc(f"<Dial action={quoteattr(action)} timeout=\"{int(timeout)}\" callerId={quoteattr(caller_id)}>"
                f"<Number statusCallbackEvent=\"answered completed\" statusCallback={quoteattr(status_callback)}>"
                f"{escape(number)}</Number></Dial>")


def hangup() -> str:
    """End the call."""
    return _doc("<Hangup/>")
