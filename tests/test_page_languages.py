"""The desk, wallboard and reports in five languages: the catalogues are whole, and a page speaks
?lang=, else the signed-in person's language, else the browser's."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from cti.languages import LANGUAGES
from cti.services.agents import PRESENCE_STATES
from cti.web import i18n
from tests.harness import Harness
from tests.test_sign_in import PASSWORD, browser_session, make_user, sign_in

WEB = Path(__file__).resolve().parent.parent / "cti" / "web"
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_every_language_has_every_key_with_the_same_placeholders() -> None:
    english = i18n.catalogue("en")
    for language in LANGUAGES:
        messages = i18n.catalogue(language)
        assert set(messages) == set(english), (language, set(english) ^ set(messages))
        for key, text in messages.items():
            assert text.strip(), (language, key)
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english[key])), (language, key)


def test_every_key_the_pages_name_is_in_the_catalogue() -> None:
    english = i18n.catalogue("en")
    named: set[str] = set()
    for path in [*WEB.glob("static/*.js"), *WEB.glob("templates/*.j2")]:
        text = path.read_text()
        named |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""", text))
        named |= set(re.findall(r'data-label": "([a-z_.]+)"', text))
    assert len(named) > 100
    assert not named - set(english), sorted(named - set(english))
    # Families the scripts name by value: every value they can meet has its words.
    families = {"agent": PRESENCE_STATES, "state": ("offered", "active", "held", "wrapup"),
                "delivery": ("received", "queued", "sent", "delivered", "read", "failed", "held"),
                "case": ("open", "pending", "resolved", "closed"), "role": ("agent", "supervisor", "admin"),
                "why": ("sentiment", "influence", "customer_value", "cross_channel"),
                "pivot.to": ("_callback", "_voice", "_email", "_chat"),
                "work.media": ("_image", "_document", "_audio", "_video"),
                "signin": ("sso_refused", "sso_failed", "sso_unknown_user", "sso_unavailable")}
    for family, values in families.items():
        for value in values:
            key = f"{family}{value}" if value.startswith("_") else f"{family}.{value}"
            assert key in english, key


async def test_a_page_speaks_the_asked_then_the_persons_then_the_browsers_language(harness: Harness) -> None:
    async with aiohttp.ClientSession() as browser:
        for headers, query, expected in (({"Accept-Language": "fi-FI,fi;q=0.9,en;q=0.5"}, "", "fi"),
                                         ({"Accept-Language": "de-DE"}, "", "en"),
                                         ({"Accept-Language": "fi"}, "?lang=ko", "ko")):
            async with browser.get(harness.url + "/wallboard" + query, headers=headers) as page:
                html = await page.text()
                assert f'<html lang="{expected}">' in html
                assert i18n.text(expected, "wall.title") in html
    await make_user(harness, "olek", language="pl")
    async with browser_session() as person:
        status, _, _ = await sign_in(person, harness.url, "olek", PASSWORD)
        assert status == 200
        async with person.get(harness.url + "/desk", headers={"Accept-Language": "zh-CN"}) as page:
            html = await page.text()
            assert '<html lang="pl">' in html and "Pulpit konsultanta" in html  # hers, not the browser's
            assert '"desk.title": "Pulpit konsultanta"' in html  # the scripts get the same catalogue
