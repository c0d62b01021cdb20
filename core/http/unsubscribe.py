"""``/unsubscribe/{token}``: the one-click link of marketing e-mail (RFC 8058), for people and mail providers.

``POST`` revokes the customer's marketing consent on the token's channel — what a mail
provider sends when its user presses "unsubscribe" (body ``List-Unsubscribe=One-Click``,
not required here), and what the confirmation page's button sends. ``GET`` only shows
that page: link scanners and previews fetch links, and must not unsubscribe anyone.

No API key: the signed token in the path is the authentication (``dealercrm.unsubscribe``).
The request guard checks it from the path before the body is read, like an API key from
the headers (``RequestGuard``); a token that is not genuine is a 404 page and changes
nothing. The pages name no customer and no address, since a link may be forwarded. Not in
the OpenAPI document: these are pages for the customer, not operations for a client.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from ..errors import NotFound
from ..unsubscribe import ONE_CLICK

router = APIRouter(prefix="/unsubscribe", include_in_schema=False)

TEXTS = {
    "de": {"title": "Abmelden", "ask": "Keine Angebote mehr per {channel} von {sender}?",
           "button": "Ja, abmelden", "done": "Sie sind abgemeldet: Sie erhalten keine Angebote mehr per {channel} "
           "von {sender}. Nachrichten zu Ihren Servicefällen bekommen Sie weiterhin.",
           "invalid": "Dieser Abmeldelink ist nicht gültig. Antworten Sie auf eine unserer Nachrichten mit "
           "„Abmelden“, dann tragen wir Sie aus.",
           "channels": {"email": "E-Mail", "sms": "SMS", "whatsapp": "WhatsApp", "phone": "Telefon", "post": "Post"}},
    "en": {"title": "Unsubscribe", "ask": "No more offers by {channel} from {sender}?",
           "button": "Yes, unsubscribe", "done": "You are unsubscribed: you will receive no more offers by {channel} "
           "from {sender}. Messages about your service cases still reach you.",
           "invalid": "This unsubscribe link is not valid. Reply \"unsubscribe\" to one of our messages and we "
           "will take you off the list.",
           "channels": {"email": "e-mail", "sms": "SMS", "whatsapp": "WhatsApp", "phone": "phone", "post": "post"}},
}


def _texts(request: Request) -> dict:
    return TEXTS.get(request.app.state.crm.settings.language, TEXTS["en"])


def page(request: Request, body: str, status: int = 200) -> HTMLResponse:
    texts = _texts(request)
    language = request.app.state.crm.settings.language if request.app.state.crm.settings.language in TEXTS else "en"
    return HTMLResponse(
        f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{escape(texts["title"])}</title></head>\n'
        f'<body style="font-family:Arial,sans-serif;max-width:32em;margin:3em auto;line-height:1.5">\n{body}\n'
        '</body></html>\n', status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def invalid(request: Request) -> HTMLResponse:
    return page(request, f"<p>{escape(_texts(request)['invalid'])}</p>", 404)


def _words(request: Request, token: str, channel: str) -> dict[str, str]:
    """The channel in the reader's words, and the customer's own dealer as the sender."""
    crm = request.app.state.crm
    texts = _texts(request)
    return {"channel": texts["channels"].get(channel, channel),
            "sender": crm.inbound.unsubscribe_sender(token) or crm.settings.home_dealer}


@router.get("/{token}", response_class=HTMLResponse)
def confirm(token: str, request: Request):
    """The confirmation page: one button that POSTs the one-click body to this same URL."""
    found = request.app.state.crm.inbound.links.read(token)
    if found is None:
        return invalid(request)
    texts = _texts(request)
    name, _, value = ONE_CLICK.partition("=")
    return page(request, f'<p>{escape(texts["ask"].format(**_words(request, token, found[1])))}</p>\n'
                         f'<form method="post"><input type="hidden" name="{name}" value="{value}">'
                         f'<button type="submit">{escape(texts["button"])}</button></form>')


@router.post("/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request):
    """One click (RFC 8058): marketing on the token's channel is revoked for the token's customer."""
    crm = request.app.state.crm
    try:
        done = await run_in_threadpool(crm.inbound.unsubscribe, token)
    except NotFound:
        return invalid(request)
    words = await run_in_threadpool(_words, request, token, done.channel)
    return page(request, f'<p>{escape(_texts(request)["done"].format(**words))}</p>')
