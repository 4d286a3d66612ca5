"""The wallboard with 500 agents in headless Chromium: does it stay live?

    .venv/bin/python -m bench.wallboard [--agents 500] [--probes 60] [--churn 10]

A ``cti serve`` process (SQLite FULL) with ``--agents`` agents (half available) and 200 chats
waiting; Chromium opens /wallboard as a supervisor (every agent named, with state and time in
state). While a background thread changes random agents' states ``--churn`` times a second (each an
agent.state_changed event the board refreshes on), each probe sets one agent away or available and
times, in the page (MutationObserver and performance.now()), until that agent's row shows the new
state. Also the server's answer time of GET /api/v1/stats/realtime under the same load. Target
(issue 20): the board stays live: a change shows within 1 s (p99).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import threading
import time

from bench.common import start_server
from bench.desk_latency import _api, _figures


def _churn(url: str, token: str, agents: int, per_second: float, stop: threading.Event) -> int:
    rng, done = random.Random(5), 0
    while not stop.is_set():
        agent = f"a{rng.randrange(agents // 2, agents):04d}"  # (the probes use the first half)
        _api(f"{url}/api/v1/agents/{agent}/state", token, "PUT", {"state": rng.choice(["available", "away"])})
        done += 1
        stop.wait(1 / per_second)
    return done


async def run(agents: int, probes: int, churn: float) -> None:
    from playwright.async_api import async_playwright

    server = start_server()
    admin = server.cli("token", "create", "--role", "admin")
    supervisor = server.cli("token", "create", "--role", "supervisor")
    server.start()
    try:
        for n in range(agents):
            _api(server.url + "/api/v1/agents", admin, "POST", {"name": f"Agent {n:04d}", "id": f"a{n:04d}",
                                                                "capacity": {"chat": 0}})
            if n % 2:
                _api(f"{server.url}/api/v1/agents/a{n:04d}/state", admin, "PUT", {"state": "available"})
        for n in range(200):
            _api(server.url + "/api/v1/inbound", admin, "POST", {
                "channel": "shop-chat", "from": {"kind": "email", "value": f"w{n}@example.com"}, "text": "hello",
                "external_id": f"wall-{n}"})
        stop = threading.Event()
        churner = threading.Thread(target=_churn, args=(server.url, admin, agents, churn, stop), daemon=True)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                       args=["--no-sandbox", "--disable-dev-shm-usage"])
            context = await browser.new_context(bypass_csp=True, viewport={"width": 1600, "height": 1000})
            page = await context.new_page()
            started = time.perf_counter()
            await page.goto(server.url + "/wallboard")
            await page.get_by_text("Sign in with an API token").click()
            await page.fill("#token", supervisor)
            await page.click("#token-form button")
            await page.wait_for_selector("#link-status.ok")
            await page.wait_for_function(f"document.querySelectorAll('#people tbody tr').length === {agents}")
            shown = time.perf_counter() - started
            churner.start()
            delays, served = [], []
            for n in range(probes):
                agent = f"a{(n * 7) % (agents // 2):04d}"
                state = "away" if n % 2 == 0 else "available"
                word = "Away" if state == "away" else "Available"
                await page.evaluate(f"""() => {{
                    window.__shown = null;
                    const watch = () => {{
                        const row = document.querySelector('#people tr[data-agent="{agent}"]');
                        if (row && row.children[1].textContent === "{word}" && window.__shown === null)
                            window.__shown = performance.now();
                    }};
                    window.__observer && window.__observer.disconnect();
                    window.__observer = new MutationObserver(watch);
                    window.__observer.observe(document.querySelector('#people tbody'), {{childList: true}});
                }}""")
                sent = await page.evaluate("performance.now()")
                await asyncio.to_thread(_api, f"{server.url}/api/v1/agents/{agent}/state", admin, "PUT",
                                        {"state": state})
                await page.wait_for_function("window.__shown !== null", timeout=30_000)
                delays.append(await page.evaluate("window.__shown") - sent)
                began = time.perf_counter()
                await asyncio.to_thread(_api, server.url + "/api/v1/stats/realtime", supervisor, "GET")
                served.append((time.perf_counter() - began) * 1000)
                await asyncio.sleep(0.2)
            stop.set()
            churner.join()
            await browser.close()
        print(f"{agents} agents, 200 chats waiting, {churn:g} state changes/s in the background")
        print(f"the board signed in and showing all {agents} agents: {shown * 1000:.0f} ms")
        print(f"state change -> the agent's row on the board ({probes} probes): {_figures(delays)}")
        print(f"GET /api/v1/stats/realtime under the same load: p50 {statistics.median(served):.0f} ms, "
              f"max {max(served):.0f} ms")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--probes", type=int, default=60)
    parser.add_argument("--churn", type=float, default=10.0)
    args = parser.parse_args()
    asyncio.run(run(args.agents, args.probes, args.churn))


if __name__ == "__main__":
    main()
