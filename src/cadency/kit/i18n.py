"""Languages of the web app: gettext catalogs (Babel .po files, compiled in memory at start) and
locale-aware formatting of dates, numbers and money."""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

from cadency.kit import money

# The web app's languages (emails and invoices add German in their own catalogs).
LANGUAGES = ("en", "nl", "da")
# The usual territory of each language Cadency writes in (German: emails and invoices).
DEFAULT_LOCALES = {"en": "en_US", "nl": "nl_NL", "da": "da_DK", "de": "de_DE"}
LANGUAGE_NAMES = {"en": "English", "nl": "Nederlands", "da": "Dansk"}
# What buyers may read: emails and invoice documents (the account's, a contact's, a subscription's).
DOCUMENT_LANGUAGE_NAMES = {**LANGUAGE_NAMES, "de": "Deutsch"}
# The web app's catalogs stay with its templates in web/; only the code that reads them is here.
TRANSLATIONS_DIR = Path(__file__).parent.parent / "web" / "translations"


def N_(message: str) -> str:
    """Marks text for translation where it is defined; it is translated where it is shown."""
    return message


class Message(str):
    """Text said in the reader's language where it is shown: its text is the English (what the
    API answers, what the logs say), and it keeps the catalog's message and its values to
    translate from (`render`). A service's refusal (kit.errors.APIError) is one, so a page shows
    it in the page's language and the API in English, from one sentence."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Message:
        made = super().__new__(cls, template % values if values else template)
        made.template, made.values = template, values
        return made


class Label(str):
    """A stored value inside a message ("canceled") that reads as its label where translated
    ("Geannuleerd", the badge's word): the API's English keeps the value itself."""

    label: str

    def __new__(cls, value: str, label: str) -> Label:
        made = super().__new__(cls, value)
        made.label = label
        return made


def render(message: Any, gettext: Callable[[str], str]) -> Any:
    """A Message or Label in the language of `gettext`, its values too; other values as they
    are (text made elsewhere is shown as it came)."""
    if isinstance(message, Label):
        return gettext(message.label)
    if isinstance(message, Message):
        translated = gettext(message.template)
        if translated == message.template:
            # English (or a sentence not translated yet): the English as the API says it,
            # whose values were written for it ("A canceled subscription …").
            return str(message)
        values = {name: render(value, gettext) for name, value in message.values.items()}
        return translated % values if message.values else translated
    return message


def say(message: str, gettext: Callable[[str], str]) -> str:
    """A catalog message in the language of `gettext`: a Message (a service's refusal) with
    its values translated too."""
    if isinstance(message, (Message, Label)):
        return str(render(message, gettext))
    return gettext(message)


@cache
def compile_catalog(directory: Path, language: str) -> gettext.NullTranslations:
    """The gettext catalog of one language from `<directory>/<language>/LC_MESSAGES/
    messages.po`, compiled in memory (no .mo files to build); English, the source language,
    has none. The web app, the invoice documents and the emails each keep their own folder."""
    po_path = directory / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    buffer = io.BytesIO()
    # Fuzzy entries are guesses awaiting review; showing them would be worse than English.
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def translations(language: str) -> gettext.NullTranslations:
    """The web app's catalog of one language."""
    return compile_catalog(TRANSLATIONS_DIR, language)


def negotiate(accept_language: str | None, languages: Sequence[str] = LANGUAGES) -> str | None:
    """The first of `languages` (the web app's, by default) the browser asks for
    (Accept-Language, by q-value)."""
    if not accept_language:
        return None
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().lower().split("-")[0]
        if language in languages and quality > 0:
            choices.append((-quality, position, language))
    return min(choices)[2] if choices else None


def choose_language(
    user_language: str | None, accept_language: str | None, account_language: str | None
) -> str:
    """The user's own setting, else the browser's wish, else the account's language."""
    for candidate in (user_language, negotiate(accept_language), account_language):
        if candidate and candidate.split("-")[0].lower() in LANGUAGES:
            return candidate.split("-")[0].lower()
    return "en"


def babel_locale(language: str, account_locale: str | None = None) -> Locale:
    """Formatting rules: the given locale (the account's, an invoice's) when it speaks the
    language (en-GB, nl-BE, de-AT), else the language's usual territory."""
    if account_locale:
        try:
            locale = Locale.parse(account_locale.replace("-", "_"))
            if locale.language == language:
                return locale
        except (ValueError, UnknownLocaleError):
            pass
    return Locale.parse(DEFAULT_LOCALES.get(language, language))


class Formatter:
    """Dates, numbers and money for one page, in its locale."""

    def __init__(self, locale: Locale) -> None:
        self.locale = locale

    def date(self, value: date | datetime | None, format: str = "medium") -> str:
        if value is None:
            return "—"
        if isinstance(value, datetime):
            value = value.date()
        return str(babel_format_date(value, format=format, locale=self.locale))

    def datetime(self, value: datetime | None, timezone: str, format: str = "medium") -> str:
        if value is None:
            return "—"
        return str(
            babel_format_datetime(
                value, format=format, tzinfo=ZoneInfo(timezone), locale=self.locale
            )
        )

    def money(self, minor: int | None, currency: str) -> str:
        """An amount in minor units, with the currency's own number of decimals."""
        if minor is None:
            return "—"
        amount = Decimal(minor).scaleb(-money.currency_exponent(currency))
        return str(format_currency(amount, currency, locale=self.locale, currency_digits=True))

    def number(self, value: int | Decimal | None) -> str:
        if value is None:
            return "—"
        return str(format_decimal(value, locale=self.locale))
