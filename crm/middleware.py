from __future__ import annotations

import contextlib
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _


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


class RefuseMisencodedFormsMiddleware:
    """A form whose text is not valid UTF-8 is refused with a message, before any view runs.

    Django decodes posted text with replacement characters (U+FFFD) where the bytes are not
    UTF-8, so the bad text would be saved as "�". Browsers always send UTF-8: such a post
    comes from a script or a broken client, and nothing of it is kept. Form-encoded bodies are
    checked byte for byte; multipart ones (forms with a file) by the replacement character
    their decoding left.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and _misencoded(request):
            message = _(
                "Le formulaire envoyé contient du texte mal encodé (pas en UTF-8) : rien n'a été "
                "enregistré. Revenez à la page précédente et saisissez le texte à nouveau."
            )
            if getattr(request, "htmx", False):
                return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
            return render(request, "bad_encoding.html", {"message": message}, status=400)
        return self.get_response(request)


def _misencoded(request: HttpRequest) -> bool:
    if request.content_type == "application/x-www-form-urlencoded":
        for pair in request.body.split(b"&"):
            for part in pair.split(b"=", 1):
                try:
                    unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
                except UnicodeDecodeError:
                    return True
        return False
    if request.content_type == "multipart/form-data":
        return any("\ufffd" in value for _key, values in request.POST.lists() for value in values)
    return False
