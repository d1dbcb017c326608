from __future__ import annotations

import contextlib

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class FrenchFirstLocaleMiddleware(LocaleMiddleware):
    """French unless the person chose English with the language switcher.

    Django's LocaleMiddleware follows the browser's Accept-Language; the mission works in
    French first, so only the switcher's cookie changes the language.
    """

    def process_request(self, request: HttpRequest) -> None:
        language = settings.LANGUAGE_CODE
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if chosen:
            # A forged or outdated cookie leaves the page in French.
            with contextlib.suppress(LookupError):
                language = translation.get_supported_language_variant(chosen)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
