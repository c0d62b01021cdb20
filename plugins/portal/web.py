"""The portal's plumbing: one request at a time, from cookies to the page.

Every route is a plain function ``(visit, form, **path) -> Response`` run in the server's
thread pool. Before it runs: the language (``?lang=``, the cookie, the browser's wish, the
installation's default), the signed-in person (the session cookie, checked by
``crm.sign_in.session`` on every request — a deactivated person is out at once), and for a
POST the anti-forgery token. After it: cookies, and headers that keep the pages out of
caches and frames, off other sites' scripts, and the link tokens in URLs out of
``Referer``. Domain errors the route does not handle itself become pages: ``NotFound``
404 (another party's case is no different from one that does not exist), ``NotPermitted``
403 with the service's reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import attrs
from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dealercrm.access import NotAuthenticated, Principal
from dealercrm.acting import ActingAs
from dealercrm.errors import DealerCrmError, NotFound, NotPermitted

from .i18n import LANGUAGES, Words
from .security import LANGUAGE_COOKIE, NONCE_COOKIE, PATH, SESSION_COOKIE, Forgery, PortalSettings, Throttle

log = logging.getLogger("dealercrm.portal")
HERE = Path(__file__).parent
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {"portal.css": "text/css; charset=utf-8"}


class SignInFirst(Exception):
    """No (longer a) valid session: to the sign-in page."""

    def __init__(self, why: str = "session_over"):
        self.why = why


@attrs.define
class Visit:
    """One request as a route sees it."""

    portal: Portal
    request: Request
    words: Words
    session: str | None = None
    nonce: str | None = None
    new_nonce: bool = False
    principal: Principal | None = None
    party: Any = None
    cookies: list[tuple[str, str | None, int | None]] = attrs.Factory(list)

    @property
    def me(self) -> ActingAs:
        assert self.principal is not None
        return ActingAs(self.portal.crm, self.principal.actor_id, self.principal)

    @property
    def csrf(self) -> str:
        return self.portal.forgery.token(self.session, self.nonce)

    @property
    def now(self):
        return self.portal.crm.clock.now()

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        path = self.request.url.path
        others = {k: v for k, v in self.request.query_params.items() if k != "lang"}
        languages = [(code, f"{path}?{urlencode({**others, 'lang': code})}") for code in LANGUAGES]
        html = self.portal.env.get_template(template).render(
            w=self.words, visit=self, csrf=self.csrf, languages=languages, me=self.principal, party=self.party,
            path=path, **values)
        return HTMLResponse(html, status_code=status)

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)


class Portal:
    def __init__(self, crm):
        self.crm = crm
        self.settings = PortalSettings.of(crm)
        self.forgery = Forgery(crm.keyring.key("portal-forms"))
        self.throttle = Throttle(self.settings.sign_in_attempts, self.settings.sign_in_window_seconds)
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.static = {name: (HERE / "static" / name).read_bytes() for name in STATIC}

    # -- routes ----------------------------------------------------------------------------------
    def router(self, routes: list[tuple[str, str, Callable, bool]]) -> APIRouter:
        router = APIRouter(prefix=PATH, include_in_schema=False)
        for method, path, handler, anonymous in routes:
            router.add_api_route(path, self._endpoint(method, handler, anonymous), methods=[method],
                                 name=f"portal.{handler.__name__}", include_in_schema=False)

        @router.get("/static/{name}")
        def static(name: str) -> Response:
            if name not in self.static:
                return Response(status_code=404)
            return Response(self.static[name], media_type=STATIC[name],
                            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})

        return router

    def _endpoint(self, method: str, handler: Callable, anonymous: bool):
        async def endpoint(request: Request) -> Response:
            form: dict[str, str] = {}
            if method == "POST":
                body = await request.body()
                form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            return await run_in_threadpool(self.answer, handler, request, form, anonymous)

        endpoint.__name__ = handler.__name__
        return endpoint

    def answer(self, handler: Callable, request: Request, form: dict[str, str], anonymous: bool) -> Response:
        visit = self._visit(request)
        try:
            if not anonymous:
                self._sign_in(visit)
            if request.method == "POST" and not self.forgery.valid(form.get("csrf"), visit.session, visit.nonce):
                response = visit.render("message.html", 403, title=visit.words("forbidden"),
                                        text=visit.words("csrf"), back=request.url.path)
            else:
                response = handler(visit, form, **request.path_params)
        except SignInFirst as out:
            response = visit.redirect(f"{PATH}/sign-in?m={out.why}")
            if visit.session:
                visit.cookies.append((SESSION_COOKIE, None, None))
        except NotFound:
            response = visit.render("message.html", 404, title=visit.words("not_found"),
                                    text=visit.words("not_found_text"), back=f"{PATH}/queue")
        except NotPermitted as exc:
            response = visit.render("message.html", 403, title=visit.words("forbidden"), text=str(exc),
                                    back=f"{PATH}/queue")
        except DealerCrmError as exc:  # anything else the service refused: said in its words, never a 500
            response = visit.render("message.html", 400, title=visit.words("error"), text=str(exc),
                                    back=f"{PATH}/queue")
        return self._finish(visit, response)

    # -- inside ------------------------------------------------------------------------------------
    def _visit(self, request: Request) -> Visit:
        asked = request.query_params.get("lang")
        language = asked if asked in LANGUAGES else request.cookies.get(LANGUAGE_COOKIE)
        if language not in LANGUAGES:
            wished = [part.split(";")[0].strip()[:2].lower()
                      for part in request.headers.get("accept-language", "").split(",")]
            language = next((w for w in wished if w in LANGUAGES), self.crm.settings.language)
        visit = Visit(self, request, Words(language, self.settings.time_zone),
                      session=request.cookies.get(SESSION_COOKIE) or None, nonce=request.cookies.get(NONCE_COOKIE))
        if asked in LANGUAGES:
            visit.cookies.append((LANGUAGE_COOKIE, asked, 365 * 24 * 3600))
        if not visit.nonce:
            visit.nonce, visit.new_nonce = Forgery.new_nonce(), True
        return visit

    def _sign_in(self, visit: Visit) -> None:
        try:
            visit.principal = self.crm.sign_in.session(visit.session, idle=self.settings.idle)
        except NotAuthenticated:
            raise SignInFirst() from None
        try:
            visit.party = visit.me.parties.get(visit.principal.party_id)
        except DealerCrmError:
            raise SignInFirst() from None
        zone = getattr(visit.party, "time_zone", None)  # parties may be given a zone of their own
        if zone:
            visit.words = Words(visit.words.language, zone)

    def _finish(self, visit: Visit, response: Response) -> Response:
        secure = self.settings.secure_cookies == "always" or (
            self.settings.secure_cookies == "auto" and visit.request.url.scheme == "https")
        if visit.new_nonce:
            visit.cookies.append((NONCE_COOKIE, visit.nonce, None))
        for name, value, max_age in visit.cookies:
            if value is None:
                response.delete_cookie(name, path=PATH, secure=secure, httponly=True, samesite="lax")
            else:
                response.set_cookie(name, value, max_age=max_age, path=PATH, secure=secure, httponly=True,
                                    samesite="lax")
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def start_session(self, visit: Visit, signed) -> None:
        """The cookie of a session just started (``crm.sign_in``); a fresh nonce goes with it."""
        max_age = int((signed.expires_at - self.crm.clock.now()).total_seconds())
        visit.cookies.append((SESSION_COOKIE, signed.token, max_age))
        visit.nonce, visit.new_nonce = Forgery.new_nonce(), True

    def client(self, visit: Visit) -> str:
        return visit.request.client.host if visit.request.client else "?"
