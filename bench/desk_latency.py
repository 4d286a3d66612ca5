"""The agent desktop in headless Chromium: first paint, and how long an event takes to reach the page.

    .venv/bin/python -m bench.desk_latency [--events 200]

A ``cti serve`` process (SQLite FULL) with a custom channel; Chromium opens /desk and signs in as
an agent who is away (so nothing is offered). Each round posts one inbound message through the
API and waits until the universal queue on the page shows it: the time from the POST's answer
(the event is committed) to the DOM change, measured in the page with a MutationObserver and
performance.now(), so the browser's clock measures both ends. Targets (issue 7): first paint
under 1 s on loopback; an event reaches the page within 200 ms p99.

Then the same with the customer in context (issue 18): a contact with 200 earlier cases is in
conversation with the agent; the desk is reloaded (first paint, and the moment the customer panel
shows the history), and each round the customer writes again until the message shows in the
conversation (the page reloads the messages and the notes on each message event).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import urllib.request
from typing import Any

from bench.common import start_server


def _api(url: str, token: str, method: str, body: dict[str, object] | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=30).read() or b"null")


async def run(events: int) -> None:
    from playwright.async_api import async_playwright

    server = start_server()
    admin = server.cli("token", "create", "--role", "admin")
    server.start()
    try:
        _api(server.url + "/api/v1/agents", admin, "POST", {"name": "Alice", "id": "alice"})
        agent = json.loads(server.cli("token", "create", "--role", "agent", "--agent", "alice", "--json"))["token"]
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                       args=["--no-sandbox", "--disable-dev-shm-usage"])
            context = await browser.new_context(bypass_csp=True)  # (the measuring script is evaluated in the page)
            page = await context.new_page()
            await page.goto(server.url + "/desk")
            await page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0")
            paint = await page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
            await page.get_by_text("Sign in with an API token").click()
            await page.fill("#token", agent)
            await page.click("#token-form button")
            await page.wait_for_selector("#link-status.ok")
            await page.evaluate("""() => {
                window.__seen = [];
                new MutationObserver(() => { window.__seen.push(performance.now()); })
                  .observe(document.querySelector('#queue tbody'), {childList: true});
            }""")
            delays = []
            for n in range(events):
                before = await page.evaluate("window.__seen.length")
                sent = await page.evaluate("performance.now()")
                await asyncio.to_thread(_api, server.url + "/api/v1/inbound", admin, "POST", {
                    "channel": "shop-chat", "from": {"kind": "email", "value": f"c{n}@example.com"},
                    "text": "hello", "external_id": f"lat-{n}"})
                await page.wait_for_function(f"window.__seen.length > {before}")
                delays.append(await page.evaluate(f"window.__seen[{before}]") - sent)
            context_figures = await with_a_long_history(page, server.url, admin, agent, events)
            await browser.close()
        print(f"first contentful paint of /desk: {paint:.0f} ms" if paint else "first paint: not reported")
        print(f"event -> page ({events} events, from before the POST to the queue's DOM change, "
              f"including the page's 50 ms debounce and its GET of the queue): {_figures(delays)}")
        print(*context_figures, sep="\n")
    finally:
        server.stop()


def _figures(delays: list[float]) -> str:
    delays = sorted(delays)
    p99 = delays[max(0, int(len(delays) * 0.99) - 1)]
    return f"p50 {statistics.median(delays):.0f} ms, p99 {p99:.0f} ms, max {delays[-1]:.0f} ms"


async def with_a_long_history(page: Any, url: str, admin: str, agent: str, events: int) -> list[str]:
    """The desk with a customer who has 200 earlier cases in the panel: reload, then messages arriving."""
    sender = {"kind": "email", "value": "regular@example.com"}
    for n in range(200):
        stored: Any = await asyncio.to_thread(_api, url + "/api/v1/inbound", admin, "POST", {
            "channel": "shop-chat", "from": sender, "text": f"earlier question {n}", "external_id": f"old-{n}"})
        abandon = f"{url}/api/v1/interactions/{stored['interaction_id']}/abandon"
        await asyncio.to_thread(_api, abandon, admin, "POST", {})
        await asyncio.to_thread(_api, f"{url}/api/v1/cases/{stored['case_id']}", admin, "PATCH", {"status": "resolved"})
    while waiting := (await asyncio.to_thread(_api, url + "/api/v1/interactions?state=queued&limit=100", admin,
                                              "GET"))["items"]:  # the first part's messages leave the queue
        for item in waiting:
            await asyncio.to_thread(_api, f"{url}/api/v1/interactions/{item['id']}/abandon", admin, "POST", {})
    await asyncio.to_thread(_api, url + "/api/v1/agents/alice/state", agent, "PUT", {"state": "available"})
    stored = await asyncio.to_thread(_api, url + "/api/v1/inbound", admin, "POST", {
        "channel": "shop-chat", "from": sender, "text": "it broke again", "external_id": "now-0"})
    iid = stored["interaction_id"]
    for _ in range(200):  # the router offers it to alice within moments
        if (await asyncio.to_thread(_api, f"{url}/api/v1/interactions/{iid}", admin, "GET"))["state"] == "offered":
            break
        await asyncio.sleep(0.05)
    await asyncio.to_thread(_api, f"{url}/api/v1/interactions/{iid}/accept", agent, "POST", {})
    await page.reload()
    await page.wait_for_selector("#contact ol.history li")
    paint = await page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    ready = await page.evaluate("performance.now()")  # since navigation start
    shown = await page.evaluate("document.querySelectorAll('#contact ol.history li').length")
    await page.click("#contact button.secondary >> text=Show earlier cases")
    await page.wait_for_function(f"document.querySelectorAll('#contact ol.history li').length > {shown}")
    more = await page.evaluate("document.querySelectorAll('#contact ol.history li').length")
    await page.evaluate(f"""() => {{
        window.__said = [];
        new MutationObserver(() => {{ window.__said.push(performance.now()); }})
          .observe(document.querySelector('[data-messages="{iid}"]'), {{childList: true}});
    }}""")
    delays = []
    for n in range(events):
        before = await page.evaluate("window.__said.length")
        sent = await page.evaluate("performance.now()")
        await asyncio.to_thread(_api, url + "/api/v1/inbound", admin, "POST", {
            "channel": "shop-chat", "from": sender, "text": f"and another thing {n}", "external_id": f"now-{n + 1}"})
        await page.wait_for_function(f"window.__said.length > {before}")
        delays.append(await page.evaluate(f"window.__said[{before}]") - sent)
    return [f"with a customer of 200 earlier cases in the panel: first contentful paint {paint:.0f} ms, "
            f"the panel's history ({shown} shown, {more} after one 'Show earlier cases') at {ready:.0f} ms after "
            "navigation",
            f"message -> conversation ({events} messages, POST to DOM change, with its GET of messages and notes): "
            f"{_figures(delays)}"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200)
    asyncio.run(run(parser.parse_args().events))


if __name__ == "__main__":
    main()
