"""What the browser tests do again and again, done the way a user does it."""

from __future__ import annotations

import io

from PIL import Image

from tests.factories import PASSWORD


def log_in(page, live_server, username: str, *, then: str = "/") -> None:
    """Log in through the real form, then wait until the page asked for (`then`) is shown."""
    page.goto(f"{live_server.url}/login/?next={then}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{live_server.url}{then}")


def log_out(page, live_server) -> None:
    """The header's button (in the account menu), so the next person logs in on a fresh
    session."""
    button = page.get_by_role("button", name="Se déconnecter")
    if not button.is_visible():
        page.locator(".account-menu > summary").click()
    button.click()
    page.wait_for_url(f"{live_server.url}/login/")


def jpeg(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), colour).save(buffer, "JPEG")
    return buffer.getvalue()
