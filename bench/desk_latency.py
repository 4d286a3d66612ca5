"""The agent desktop in headless Chromium: first paint, and how long an event takes to reach the page.

    .venv/bin/python -m bench.desk_latency [--events 200]

A ``cti serve`` process (SQLite FULL) with a custom channel; Chromium opens /desk and signs in as
an agent who is away (so nothing is offered). Each round posts one inbound message through the
API and waits until the universal queue on the page shows it: the time from the POST's answer
(the event is committed) to the DOM change, measured in the page with a MutationObserver and
performance.now(), so the browser's clock measures both ends. Targets (issue 7): first paint
under 1 s on loopback; an event reaches the page within 200 ms p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import urllib.request

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
            await browser.close()
        delays.sort()
        p99 = delays[max(0, int(len(delays) * 0.99) - 1)]
        print(f"first contentful paint of /desk: {paint:.0f} ms" if paint else "first paint: not reported")
        print(f"event -> page ({events} events, from before the POST to the queue's DOM change, "
              f"including the page's 50 ms debounce and its GET of the queue): "
              f"p50 {statistics.median(delays):.0f} ms, p99 {p99:.0f} ms, max {delays[-1]:.0f} ms")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200)
    asyncio.run(run(parser.parse_args().events))


if __name__ == "__main__":
    main()
