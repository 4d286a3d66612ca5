"""The landing page's and the link message's words in the customer's language.

Languages: English, Finnish, Chinese (Simplified), Korean, Polish. The page picks one from
``?lang=`` (the switcher), else from Accept-Language by q-value, else the interaction's language,
else English. Messages are keyed; every language has every key (a test checks it).
"""

from __future__ import annotations

LANGUAGES = {"en": "English", "fi": "Suomi", "zh": "中文", "ko": "한국어", "pl": "Polski"}
DEFAULT = "en"

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "title": "Talk to {company}",
        "intro": "{agent} from {company} would like to call you about your message on {channel}.",
        "intro_no_agent": "{company} would like to call you about your message on {channel}.",
        "call_now": "Call me now",
        "call_later": "Call me at a time",
        "when": "When",
        "your_number": "Your phone number",
        "number_hint": "With the country code, e.g. +358 40 123 4567",
        "number_on_file": "We will call {number}.",
        "talk_browser": "Talk in the browser now",
        "calls_unavailable": "We cannot take calls through this link right now. Please keep writing to us "
                             "on {channel}.",
        "continue_written": "Or keep writing to us on {channel}.",
        "expires": "This link works until {expires}.",
        "scheduled_now": "Thank you! {agent} will call {number} in a moment.",
        "scheduled_later": "Thank you! We will call {number} at {when}.",
        "gone_title": "This link can no longer be used",
        "gone_body": "It has expired, was already used or was withdrawn. Write to us again on {channel} and we "
                     "will help you there.",
        "missing_title": "Link not found",
        "missing_body": "Check that you opened the whole link from our message.",
        "busy_title": "Too many tries",
        "busy_body": "Please wait a while and try again.",
        "error_invalid_number": "Type your number with its country code, e.g. +358 40 123 4567.",
        "error_region_not_allowed": "Sorry, we cannot call numbers in that country.",
        "error_number_type_not_allowed": "Sorry, we cannot call that kind of number.",
        "error_csrf": "The form expired. Please open the link again.",
        "error_invalid_time": "Choose a time within our opening hours.",
        "error_rate_limited": "Too many call requests. Please try again later.",
        "language": "Language",
        "link_text": "{agent} at {company} can call you: {url}",
        "link_text_no_agent": "{company} can call you: {url}",
        "failed_text": "We tried to call you at {number} but could not reach you. Reply here and we will go on.",
    },
    "fi": {
        "title": "Puhu: {company}",
        "intro": "{agent} ({company}) haluaa soittaa sinulle viestistäsi kanavalla {channel}.",
        "intro_no_agent": "{company} haluaa soittaa sinulle viestistäsi kanavalla {channel}.",
        "call_now": "Soita minulle nyt",
        "call_later": "Soita minulle myöhemmin",
        "when": "Milloin",
        "your_number": "Puhelinnumerosi",
        "number_hint": "Maatunnuksen kanssa, esim. +358 40 123 4567",
        "number_on_file": "Soitamme numeroon {number}.",
        "talk_browser": "Puhu nyt selaimessa",
        "calls_unavailable": "Emme voi juuri nyt soittaa tämän linkin kautta. Jatka kirjoittamista "
                             "kanavalla {channel}.",
        "continue_written": "Tai jatka kirjoittamista kanavalla {channel}.",
        "expires": "Linkki toimii {expires} asti.",
        "scheduled_now": "Kiitos! {agent} soittaa numeroon {number} hetken kuluttua.",
        "scheduled_later": "Kiitos! Soitamme numeroon {number} {when}.",
        "gone_title": "Tätä linkkiä ei voi enää käyttää",
        "gone_body": "Se on vanhentunut, käytetty tai peruttu. Kirjoita meille uudelleen kanavalla {channel}, niin "
                     "autamme siellä.",
        "missing_title": "Linkkiä ei löytynyt",
        "missing_body": "Tarkista, että avasit koko linkin viestistämme.",
        "busy_title": "Liian monta yritystä",
        "busy_body": "Odota hetki ja yritä uudelleen.",
        "error_invalid_number": "Kirjoita numero maatunnuksen kanssa, esim. +358 40 123 4567.",
        "error_region_not_allowed": "Valitettavasti emme voi soittaa tämän maan numeroihin.",
        "error_number_type_not_allowed": "Valitettavasti emme voi soittaa tällaiseen numeroon.",
        "error_csrf": "Lomake vanheni. Avaa linkki uudelleen.",
        "error_invalid_time": "Valitse aika aukioloaikojemme sisältä.",
        "error_rate_limited": "Liian monta soittopyyntöä. Yritä myöhemmin uudelleen.",
        "language": "Kieli",
        "link_text": "{agent} ({company}) voi soittaa sinulle: {url}",
        "link_text_no_agent": "{company} voi soittaa sinulle: {url}",
        "failed_text": "Yritimme soittaa numeroon {number}, mutta emme tavoittaneet sinua. Vastaa tähän, "
                       "niin jatketaan.",
    },
    "zh": {
        "title": "与{company}通话",
        "intro": "{company}的{agent}想就您在{channel}上的留言给您回电。",
        "intro_no_agent": "{company}想就您在{channel}上的留言给您回电。",
        "call_now": "现在给我回电",
        "call_later": "预约回电时间",
        "when": "时间",
        "your_number": "您的电话号码",
        "number_hint": "请包含国家代码，例如 +86 131 2345 6789",
        "number_on_file": "我们将拨打 {number}。",
        "talk_browser": "现在在浏览器中通话",
        "calls_unavailable": "目前无法通过此链接通话。请继续在{channel}上给我们留言。",
        "continue_written": "或继续在{channel}上给我们留言。",
        "expires": "此链接有效期至 {expires}。",
        "scheduled_now": "谢谢！{agent}马上会拨打 {number}。",
        "scheduled_later": "谢谢！我们将在 {when} 拨打 {number}。",
        "gone_title": "此链接已无法使用",
        "gone_body": "链接已过期、已被使用或已撤回。请在{channel}上再次联系我们，我们会在那里帮助您。",
        "missing_title": "未找到链接",
        "missing_body": "请确认您打开的是我们消息中的完整链接。",
        "busy_title": "尝试次数过多",
        "busy_body": "请稍后再试。",
        "error_invalid_number": "请输入包含国家代码的号码，例如 +86 131 2345 6789。",
        "error_region_not_allowed": "抱歉，我们无法拨打该国家或地区的号码。",
        "error_number_type_not_allowed": "抱歉，我们无法拨打此类号码。",
        "error_csrf": "表单已过期，请重新打开链接。",
        "error_invalid_time": "请选择我们营业时间内的时间。",
        "error_rate_limited": "回电请求过多，请稍后再试。",
        "language": "语言",
        "link_text": "{company}的{agent}可以给您回电：{url}",
        "link_text_no_agent": "{company}可以给您回电：{url}",
        "failed_text": "我们尝试拨打 {number}，但未能联系到您。请在此回复，我们会继续跟进。",
    },
    "ko": {
        "title": "{company}와(과) 통화하기",
        "intro": "{company}의 {agent}님이 {channel}에 남기신 메시지에 대해 전화를 드리고자 합니다.",
        "intro_no_agent": "{company}에서 {channel}에 남기신 메시지에 대해 전화를 드리고자 합니다.",
        "call_now": "지금 전화 주세요",
        "call_later": "시간 예약하기",
        "when": "시간",
        "your_number": "전화번호",
        "number_hint": "국가 번호를 포함해 입력하세요. 예: +82 10 1234 5678",
        "number_on_file": "{number}(으)로 전화드리겠습니다.",
        "talk_browser": "지금 브라우저로 통화하기",
        "calls_unavailable": "지금은 이 링크로 통화할 수 없습니다. {channel}에서 계속 메시지를 보내 주세요.",
        "continue_written": "또는 {channel}에서 계속 메시지를 보내 주세요.",
        "expires": "이 링크는 {expires}까지 유효합니다.",
        "scheduled_now": "감사합니다! {agent}님이 곧 {number}(으)로 전화드립니다.",
        "scheduled_later": "감사합니다! {when}에 {number}(으)로 전화드리겠습니다.",
        "gone_title": "더 이상 사용할 수 없는 링크입니다",
        "gone_body": "링크가 만료되었거나 이미 사용되었거나 취소되었습니다. "
                     "{channel}에서 다시 연락 주시면 도와드리겠습니다.",
        "missing_title": "링크를 찾을 수 없습니다",
        "missing_body": "메시지의 링크 전체를 여셨는지 확인해 주세요.",
        "busy_title": "시도 횟수가 너무 많습니다",
        "busy_body": "잠시 후 다시 시도해 주세요.",
        "error_invalid_number": "국가 번호를 포함해 입력하세요. 예: +82 10 1234 5678.",
        "error_region_not_allowed": "죄송합니다. 해당 국가의 번호로는 전화할 수 없습니다.",
        "error_number_type_not_allowed": "죄송합니다. 이런 종류의 번호로는 전화할 수 없습니다.",
        "error_csrf": "양식이 만료되었습니다. 링크를 다시 열어 주세요.",
        "error_invalid_time": "영업 시간 내의 시간을 선택해 주세요.",
        "error_rate_limited": "전화 요청이 너무 많습니다. 나중에 다시 시도해 주세요.",
        "language": "언어",
        "link_text": "{company}의 {agent}님이 전화드릴 수 있습니다: {url}",
        "link_text_no_agent": "{company}에서 전화드릴 수 있습니다: {url}",
        "failed_text": "{number}(으)로 전화드렸지만 연결되지 않았습니다. 여기에 답장해 주시면 이어서 도와드리겠습니다.",
    },
    "pl": {
        "title": "Rozmowa z {company}",
        "intro": "{agent} z {company} chce do Ciebie zadzwonić w sprawie Twojej wiadomości na {channel}.",
        "intro_no_agent": "{company} chce do Ciebie zadzwonić w sprawie Twojej wiadomości na {channel}.",
        "call_now": "Zadzwońcie teraz",
        "call_later": "Zadzwońcie o wybranej porze",
        "when": "Kiedy",
        "your_number": "Twój numer telefonu",
        "number_hint": "Z numerem kierunkowym kraju, np. +48 512 345 678",
        "number_on_file": "Zadzwonimy pod numer {number}.",
        "talk_browser": "Porozmawiaj teraz w przeglądarce",
        "calls_unavailable": "Nie możemy teraz rozmawiać przez ten link. Pisz do nas dalej na {channel}.",
        "continue_written": "Albo pisz do nas dalej na {channel}.",
        "expires": "Link jest ważny do {expires}.",
        "scheduled_now": "Dziękujemy! {agent} za chwilę zadzwoni pod numer {number}.",
        "scheduled_later": "Dziękujemy! Zadzwonimy pod numer {number} o {when}.",
        "gone_title": "Tego linku nie można już użyć",
        "gone_body": "Wygasł, został już użyty albo wycofany. Napisz do nas ponownie na {channel}, a pomożemy.",
        "missing_title": "Nie znaleziono linku",
        "missing_body": "Sprawdź, czy otwarto cały link z naszej wiadomości.",
        "busy_title": "Zbyt wiele prób",
        "busy_body": "Odczekaj chwilę i spróbuj ponownie.",
        "error_invalid_number": "Wpisz numer z numerem kierunkowym kraju, np. +48 512 345 678.",
        "error_region_not_allowed": "Niestety nie dzwonimy na numery z tego kraju.",
        "error_number_type_not_allowed": "Niestety nie dzwonimy na numery tego rodzaju.",
        "error_csrf": "Formularz wygasł. Otwórz link ponownie.",
        "error_invalid_time": "Wybierz porę w naszych godzinach pracy.",
        "error_rate_limited": "Zbyt wiele próśb o telefon. Spróbuj później.",
        "language": "Język",
        "link_text": "{agent} z {company} może do Ciebie zadzwonić: {url}",
        "link_text_no_agent": "{company} może do Ciebie zadzwonić: {url}",
        "failed_text": "Próbowaliśmy dzwonić pod numer {number}, ale bez skutku. Odpisz tutaj, a będziemy kontynuować.",
    },
}


def negotiate(accept_language: str | None, *, requested: str | None = None, fallback: str | None = None) -> str:
    """The language to use: ?lang= first, then Accept-Language by q-value, then the fallback, then English."""
    if requested and requested in MESSAGES:
        return requested
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "")[:500].split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        base = tag.split("-", 1)[0]
        if base in MESSAGES and quality > 0:
            ranked.append((-quality, position, base))
    if ranked:
        return min(ranked)[2]
    base = (fallback or "").split("-", 1)[0].lower()
    return base if base in MESSAGES else DEFAULT


def text(language: str, key: str, **values: str) -> str:
    """One message in that language, filled in."""
    return MESSAGES.get(language, MESSAGES[DEFAULT])[key].format(**values)
