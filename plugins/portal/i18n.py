"""The portal's words, in German and English, and times in the reader's zone.

States and triggers of the built-in service-case workflow have labels here; a state or
trigger a plugin adds is shown by its name made readable ("order_parts" → "Order parts")
until a plugin gives it words. Every time is shown in a named zone: a deadline without its
zone is a bug.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

LANGUAGES = ("de", "en")

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "app": "dealercrm", "skip": "Zum Inhalt springen", "nav": "Hauptnavigation", "queue": "Meine Fälle",
        "my_day": "Mein Tag", "people": "Mitarbeitende", "sign_out": "Abmelden", "language": "Sprache",
        "signed_in_as": "Angemeldet als {name} ({party})",
        "sign_in": "Anmelden", "email": "E-Mail-Adresse", "password": "Passwort",
        "sign_in_password": "Mit Passwort anmelden", "sign_in_link": "Anmeldelink per E-Mail",
        "send_link": "Link senden", "link_sent": "Falls die Adresse bekannt ist, ist ein Anmeldelink unterwegs. "
        "Er gilt {minutes} Minuten und nur einmal.",
        "link_confirm": "Mit diesem Link anmelden", "link_confirm_text": "Klicken Sie, um sich anzumelden. "
        "Der Link gilt nur einmal.",
        "signed_out": "Sie sind abgemeldet.", "session_over": "Bitte melden Sie sich (wieder) an.",
        "too_many": "Zu viele Anmeldeversuche. Bitte warten Sie {seconds} Sekunden.",
        "queue_title": "Meine Fälle: {party}", "filters": "Filter", "state": "Status", "all_states": "alle",
        "overdue_only": "nur überfällige", "apply": "Anwenden", "case": "Fall", "customer": "Kunde",
        "due": "Fällig", "held": "Wer hatte den Fall wie lange", "summary": "Anliegen", "overdue": "überfällig",
        "no_cases": "Keine offenen Fälle.", "next_page": "Weitere Fälle", "due_in": "in {span}",
        "overdue_by": "seit {span} überfällig", "no_deadline": "keine Frist",
        "promise": "Spätestens erledigt", "promise_level": "{when} (Service-Level {level})",
        "resolved_by": "Ihr Anliegen ist spätestens am {when} erledigt.",
        "case_title": "Fall {id}: {summary}", "now_with": "Jetzt bei", "until": "bis", "customer_data": "Kundendaten",
        "product": "Gerät", "serial": "Seriennummer", "warranty_until": "Garantie bis", "timeline": "Verlauf",
        "workflow": "Ablauf", "workflow_list": "Der Ablauf als Liste", "you_are_here": "aktueller Stand",
        "actions": "Was Sie jetzt tun können", "no_actions": "Sie können an diesem Fall gerade nichts tun.",
        "note": "Notiz (optional)", "required": "Pflichtfeld", "submit": "Ausführen", "reload": "Seite neu laden",
        "conflict": "Jemand anderes hat zuerst gehandelt: Der Fall hat sich geändert, seit Sie ihn geöffnet haben.",
        "refused": "Nicht möglich: {reason}", "done": "Erledigt: {action}. Der Fall ist jetzt bei {owner}.",
        "choose_party": "— bitte wählen —", "in_zone": "Zeitzone {zone}", "time_held": "Gehalten",
        "by_whom": "Wer", "what": "Was", "when": "Wann", "customer_link": "Statuslink für den Kunden",
        "issue_link": "Statuslink anzeigen", "revoke_link": "Statuslinks widerrufen",
        "link_revoked": "{count} Statuslink(s) widerrufen.", "link_for_customer": "Link für den Kunden (gültig bis {until}):",
        "my_day_title": "Mein Tag", "tasks_today": "Aufgaben heute und überfällig", "no_tasks": "Keine Aufgaben für heute.",
        "task_done": "Erledigt", "snooze": "Zurückstellen", "snooze_until": "bis", "tomorrow": "morgen früh",
        "next_week": "nächste Woche", "cases_on_desk": "Fälle bei {party}, heute fällig oder überfällig",
        "at_risk": "Kunden in Gefahr", "no_risk": "Keine treuen Kunden in Gefahr.", "last_touch": "letzter Kontakt",
        "customer_title": "Kunde: {name}", "contacts": "Ansprechpartner", "assets": "Geräte und Garantie",
        "interests": "Interessen", "consents": "Einwilligungen", "cases": "Fälle", "granted": "erteilt",
        "revoked": "widerrufen", "in_warranty": "in Garantie", "out_of_warranty": "Garantie abgelaufen",
        "no_entries": "Keine Einträge.", "withheld": "Diese Angaben führt der Händler des Kunden.",
        "people_title": "Mitarbeitende von {party}", "name": "Name", "role": "Rolle", "active": "aktiv",
        "inactive": "inaktiv", "set_password": "Passwort setzen", "new_password": "Neues Passwort (mind. 12 Zeichen)",
        "deactivate": "Deaktivieren", "activate": "Aktivieren", "password_set": "Passwort gesetzt.",
        "saved": "Gespeichert.",
        "error": "Fehler", "not_found": "Nicht gefunden.", "not_found_text": "Diese Seite gibt es nicht, oder sie "
        "ist nicht für Sie bestimmt.", "forbidden": "Nicht erlaubt.", "csrf": "Das Formular war veraltet oder "
        "stammt nicht von dieser Seite. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.",
        "back": "Zurück",
        # the customer's status page
        "status_title": "Ihr Serviceanliegen (Fall {id})", "status_intro": "Ihr Händler {dealer} hält Sie hier "
        "auf dem Laufenden.", "who_now": "Wer ist jetzt dran?", "with_party": "{name} ({role}) – bis spätestens {due}.",
        "with_you": "Sie: Wir warten auf Ihre Rückmeldung, bis {due}.", "closed_state": "Ihr Fall ist abgeschlossen: {state}.",
        "if_missed": "Was passiert, wenn diese Frist verstreicht?", "history": "Was bisher geschah",
        "your_answer": "Ihre Rückmeldung", "survey": "Wie zufrieden sind Sie?", "csat": "Zufriedenheit "
        "(1 = sehr unzufrieden, 5 = sehr zufrieden)", "nps": "Wie wahrscheinlich empfehlen Sie uns weiter? "
        "(0 = gar nicht, 10 = äußerst wahrscheinlich)", "comment": "Möchten Sie uns noch etwas sagen? (optional)",
        "send": "Absenden", "thanks": "Vielen Dank für Ihre Antwort!", "answered": "Danke, Ihre Rückmeldung ist "
        "angekommen.", "link_expires": "Dieser Link gilt bis {until}.", "link_expired": "Dieser Link ist abgelaufen.",
        "link_withdrawn": "Dieser Link wurde zurückgezogen.", "link_unknown": "Diesen Link gibt es nicht.",
        "ask_dealer": "Ihr Händler schickt Ihnen gerne einen neuen.", "what_wrong": "Was funktioniert noch nicht? "
        "(optional)", "role_dealer": "Ihr Händler", "role_manufacturer": "der Hersteller",
        "role_technician": "der Techniker", "role_customer": "Sie", "role_system": "dealercrm (automatisch)",
        "you": "Sie", "step_generic": "{who}: {action} → {state}",
        "timeout_generic": "Dann geht der Fall automatisch weiter: {state}.",
        "missed_to_dealer": "Dann geht Ihr Fall automatisch an Ihren Händler {dealer} zurück, der entscheidet. "
        "Niemand kann Sie unbegrenzt warten lassen.",
        "missed_closed": "Dann gilt Ihr Fall als erledigt ({state}).", "the_customer": "der Kunde",
        "lane_dealer": "Händler", "lane_manufacturer": "Hersteller", "lane_technician": "Techniker",
        "lane_customer": "Kunde", "lane_final": "Ende", "opened": "Fall eröffnet", "note_col": "Notiz, Angaben",
        "sign_in_subject": "Ihr Anmeldelink für dealercrm",
        "sign_in_body": "Guten Tag,\n\nmit diesem Link melden Sie sich einmalig an (gültig {minutes} Minuten):\n{url}\n\n"
        "Wenn Sie keinen Link angefordert haben, ignorieren Sie diese Nachricht.",
        "notice_link": "Den Stand Ihres Falls sehen Sie jederzeit hier: {url}",
    },
    "en": {
        "app": "dealercrm", "skip": "Skip to content", "nav": "Main navigation", "queue": "My queue",
        "my_day": "My day", "people": "People", "sign_out": "Sign out", "language": "Language",
        "signed_in_as": "Signed in as {name} ({party})",
        "sign_in": "Sign in", "email": "E-mail address", "password": "Password",
        "sign_in_password": "Sign in with a password", "sign_in_link": "A sign-in link by e-mail",
        "send_link": "Send link", "link_sent": "If the address is known, a sign-in link is on its way. It works "
        "once, for {minutes} minutes.",
        "link_confirm": "Sign in with this link", "link_confirm_text": "Click to sign in. The link works once.",
        "signed_out": "You are signed out.", "session_over": "Please sign in (again).",
        "too_many": "Too many sign-in attempts. Please wait {seconds} seconds.",
        "queue_title": "My queue: {party}", "filters": "Filters", "state": "State", "all_states": "all",
        "overdue_only": "overdue only", "apply": "Apply", "case": "Case", "customer": "Customer",
        "due": "Due", "held": "Who held it for how long", "summary": "Complaint", "overdue": "overdue",
        "no_cases": "No open cases.", "next_page": "More cases", "due_in": "in {span}",
        "overdue_by": "overdue by {span}", "no_deadline": "no deadline",
        "promise": "Resolved at the latest", "promise_level": "{when} (service level {level})",
        "resolved_by": "Your request will be resolved by {when} at the latest.",
        "case_title": "Case {id}: {summary}", "now_with": "Now with", "until": "until", "customer_data": "Customer",
        "product": "Product", "serial": "Serial number", "warranty_until": "Warranty until", "timeline": "Timeline",
        "workflow": "Workflow", "workflow_list": "The workflow as a list", "you_are_here": "current state",
        "actions": "What you can do now", "no_actions": "There is nothing you can do on this case right now.",
        "note": "Note (optional)", "required": "required", "submit": "Do it", "reload": "Reload the page",
        "conflict": "Someone else acted first: the case changed since you opened it.",
        "refused": "Not possible: {reason}", "done": "Done: {action}. The case is now with {owner}.",
        "choose_party": "— please choose —", "in_zone": "time zone {zone}", "time_held": "Held",
        "by_whom": "Who", "what": "What", "when": "When", "customer_link": "The customer's status link",
        "issue_link": "Show a status link", "revoke_link": "Revoke the status links",
        "link_revoked": "{count} status link(s) revoked.", "link_for_customer": "Link for the customer (valid until {until}):",
        "my_day_title": "My day", "tasks_today": "Tasks due today and overdue", "no_tasks": "No tasks for today.",
        "task_done": "Done", "snooze": "Snooze", "snooze_until": "until", "tomorrow": "tomorrow morning",
        "next_week": "next week", "cases_on_desk": "Cases with {party}, due today or overdue",
        "at_risk": "Customers at risk", "no_risk": "No loyal customers at risk.", "last_touch": "last touch",
        "customer_title": "Customer: {name}", "contacts": "Contact persons", "assets": "Products and warranty",
        "interests": "Interests", "consents": "Consents", "cases": "Cases", "granted": "granted",
        "revoked": "revoked", "in_warranty": "in warranty", "out_of_warranty": "warranty ended",
        "no_entries": "Nothing here.", "withheld": "The customer's dealer keeps these details.",
        "people_title": "People of {party}", "name": "Name", "role": "Role", "active": "active",
        "inactive": "inactive", "set_password": "Set password", "new_password": "New password (12 characters or more)",
        "deactivate": "Deactivate", "activate": "Activate", "password_set": "Password set.", "saved": "Saved.",
        "error": "Error", "not_found": "Not found.", "not_found_text": "This page does not exist, or it is not for you.",
        "forbidden": "Not allowed.", "csrf": "The form was out of date or did not come from this site. Please reload "
        "the page and try again.", "back": "Back",
        "status_title": "Your service request (case {id})", "status_intro": "Your dealer {dealer} keeps you "
        "up to date here.", "who_now": "Who has your case now?", "with_party": "{name} ({role}) – by {due} at the latest.",
        "with_you": "You: we are waiting for your answer, until {due}.", "closed_state": "Your case is closed: {state}.",
        "if_missed": "What happens if that time passes?", "history": "What has happened so far",
        "your_answer": "Your answer", "survey": "How satisfied are you?", "csat": "Satisfaction "
        "(1 = very dissatisfied, 5 = very satisfied)", "nps": "How likely are you to recommend us? "
        "(0 = not at all, 10 = extremely likely)", "comment": "Anything else you would like to tell us? (optional)",
        "send": "Send", "thanks": "Thank you for your answer!", "answered": "Thank you, your answer has arrived.",
        "link_expires": "This link works until {until}.", "link_expired": "This link has expired.",
        "link_withdrawn": "This link was withdrawn.", "link_unknown": "This link does not exist.",
        "ask_dealer": "Your dealer will gladly send you a new one.", "what_wrong": "What still does not work? "
        "(optional)", "role_dealer": "your dealer", "role_manufacturer": "the manufacturer",
        "role_technician": "the technician", "role_customer": "you", "role_system": "dealercrm (automatically)",
        "you": "You", "step_generic": "{who}: {action} → {state}",
        "timeout_generic": "Then the case moves on by itself: {state}.",
        "missed_to_dealer": "Then your case goes back to your dealer {dealer} by itself, who decides. Nobody can "
        "keep you waiting for ever.",
        "missed_closed": "Then your case counts as settled ({state}).", "the_customer": "the customer",
        "lane_dealer": "Dealer", "lane_manufacturer": "Manufacturer", "lane_technician": "Technician",
        "lane_customer": "Customer", "lane_final": "End", "opened": "Case opened", "note_col": "Note, data",
        "sign_in_subject": "Your sign-in link for dealercrm",
        "sign_in_body": "Hello,\n\nthis link signs you in once (valid for {minutes} minutes):\n{url}\n\n"
        "If you did not ask for a link, ignore this message.",
        "notice_link": "See where your case stands at any time: {url}",
    },
}

STATES: dict[str, dict[str, str]] = {
    "de": {"reported": "gemeldet", "dealer_diagnosis": "Prüfung beim Händler", "manufacturer_review":
           "Prüfung beim Hersteller", "technician_dispatch": "Terminvergabe beim Techniker", "visit_scheduled":
           "Technikertermin vereinbart", "waiting_for_parts": "wartet auf Ersatzteile", "dealer_decision":
           "Entscheidung beim Händler", "replacement": "Austauschgerät", "dealer_repair": "Reparatur beim Händler",
           "waiting_for_customer": "wartet auf Ihre Antwort", "awaiting_confirmation": "wartet auf Bestätigung",
           "closed": "abgeschlossen", "refunded": "erstattet", "withdrawn": "zurückgezogen"},
    "en": {"reported": "reported", "dealer_diagnosis": "diagnosis at the dealer", "manufacturer_review":
           "manufacturer's review", "technician_dispatch": "technician booking a visit", "visit_scheduled":
           "visit scheduled", "waiting_for_parts": "waiting for parts", "dealer_decision": "dealer decides",
           "replacement": "replacement", "dealer_repair": "repair at the dealer", "waiting_for_customer":
           "waiting for the customer", "awaiting_confirmation": "awaiting confirmation", "closed": "closed",
           "refunded": "refunded", "withdrawn": "withdrawn"},
}

TRIGGERS: dict[str, dict[str, str]] = {
    "de": {"start_diagnosis": "Prüfung beginnen", "solve_by_advice": "Durch Beratung gelöst",
           "repair_at_dealer": "Selbst reparieren", "offer_replacement": "Austausch anbieten",
           "forward_to_manufacturer": "An den Hersteller weitergeben", "ask_customer": "Kunden fragen",
           "customer_replied": "Kunde hat geantwortet", "approve_visit": "Technikerbesuch freigeben",
           "approve_replacement": "Austausch freigeben", "reject": "Ablehnen (mit Grund)",
           "schedule_visit": "Termin buchen", "decline_slot": "Keinen Termin in der Frist: zurück an den Händler",
           "report_fixed": "Als repariert melden", "order_parts": "Ersatzteile bestellen",
           "report_not_repairable": "Nicht reparierbar melden", "parts_arrived": "Teile sind da",
           "refund": "Erstatten", "retry_manufacturer": "Erneut an den Hersteller",
           "close_by_agreement": "Im Einvernehmen schließen", "deliver_replacement": "Austauschgerät liefern",
           "confirm": "Es funktioniert", "still_broken": "Immer noch defekt", "take_over": "Fall übernehmen",
           "withdraw": "Fall zurückziehen", "escalate": "Frist verstrichen", "auto_close": "automatisch geschlossen",
           "customer_silent": "keine Antwort des Kunden"},
    "en": {"start_diagnosis": "Start diagnosis", "solve_by_advice": "Solved by advice",
           "repair_at_dealer": "Repair ourselves", "offer_replacement": "Offer a replacement",
           "forward_to_manufacturer": "Forward to the manufacturer", "ask_customer": "Ask the customer",
           "customer_replied": "Customer replied", "approve_visit": "Approve a technician visit",
           "approve_replacement": "Approve a replacement", "reject": "Reject (with a reason)",
           "schedule_visit": "Book a visit", "decline_slot": "No slot inside the deadline: back to the dealer",
           "report_fixed": "Report fixed", "order_parts": "Order parts",
           "report_not_repairable": "Report not repairable", "parts_arrived": "Parts arrived",
           "refund": "Refund", "retry_manufacturer": "Try the manufacturer again",
           "close_by_agreement": "Close by agreement", "deliver_replacement": "Deliver the replacement",
           "confirm": "It works", "still_broken": "Still broken", "take_over": "Take the case over",
           "withdraw": "Withdraw the case", "escalate": "Deadline passed", "auto_close": "closed automatically",
           "customer_silent": "no answer from the customer"},
}

#: the history in plain words for the customer, by trigger ({who} is the party)
STEPS: dict[str, dict[str, str]] = {
    "de": {"opened": "{who} hat Ihr Anliegen aufgenommen.", "start_diagnosis": "{who} prüft Ihr Anliegen.",
           "forward_to_manufacturer": "{who} hat den Fall an den Hersteller weitergegeben.",
           "approve_visit": "{who} hat einen Technikerbesuch freigegeben.",
           "approve_replacement": "{who} hat ein Austauschgerät freigegeben.",
           "reject": "{who} hat abgelehnt; Ihr Händler entscheidet jetzt.",
           "schedule_visit": "{who} hat einen Termin gebucht.", "decline_slot": "{who} hatte keinen Termin in der "
           "Frist; Ihr Händler entscheidet jetzt.", "report_fixed": "{who} meldet: repariert.",
           "order_parts": "{who} hat Ersatzteile bestellt.", "parts_arrived": "Die Ersatzteile sind da.",
           "escalate": "Die Frist ist verstrichen; der Fall ging automatisch weiter.",
           "confirm": "{who}: Es funktioniert.", "still_broken": "{who}: Immer noch defekt – Ihr Händler kümmert sich.",
           "auto_close": "Ohne Rückmeldung automatisch abgeschlossen.",
           "deliver_replacement": "{who} hat das Austauschgerät geliefert.",
           "offer_replacement": "{who} tauscht Ihr Gerät aus.", "refund": "{who} hat den Kaufpreis erstattet.",
           "take_over": "{who} hat den Fall übernommen."},
    "en": {"opened": "{who} took your request.", "start_diagnosis": "{who} is looking into it.",
           "forward_to_manufacturer": "{who} forwarded the case to the manufacturer.",
           "approve_visit": "{who} approved a technician's visit.",
           "approve_replacement": "{who} approved a replacement.",
           "reject": "{who} declined; your dealer decides now.",
           "schedule_visit": "{who} booked a visit.", "decline_slot": "{who} had no slot inside the deadline; your "
           "dealer decides now.", "report_fixed": "{who} reports: fixed.", "order_parts": "{who} ordered parts.",
           "parts_arrived": "The parts have arrived.",
           "escalate": "The deadline passed; the case moved on by itself.",
           "confirm": "{who}: it works.", "still_broken": "{who}: still broken – your dealer takes care of it.",
           "auto_close": "Closed by itself without an answer.",
           "deliver_replacement": "{who} delivered the replacement.", "offer_replacement": "{who} replaces your "
           "product.", "refund": "{who} refunded the price.", "take_over": "{who} took the case over."},
}

#: a guard's refusal in words the person at the desk can act on (``{due}`` in their zone)
GUARDS: dict[str, dict[str, str]] = {
    "de": {"visit_within_deadline": "Dieser Termin liegt nach der Service-Frist ({due}). Buchen Sie einen Termin "
           "innerhalb der Frist, halten Sie die Zustimmung des Kunden zu einem späteren Termin fest oder geben Sie den "
           "Fall an den Händler zurück („Keinen Termin in der Frist“)."},
    "en": {"visit_within_deadline": "This slot is after the service deadline ({due}). Book a slot inside the "
           "deadline, record the customer's agreement to a later one, or hand the case back to the dealer "
           "(\u201cNo slot inside the deadline\u201d)."},
}

FIELDS: dict[str, dict[str, str]] = {
    "de": {"visit_at": "Termin", "reason": "Grund", "note": "Notiz", "question": "Frage an den Kunden",
           "new_serial": "Seriennummer des neuen Geräts", "technician_party_id": "Techniker",
           "manufacturer_party_id": "Hersteller", "name": "Name", "email": "E-Mail", "phone": "Telefon",
           "street": "Straße", "postcode": "PLZ", "city": "Ort", "birthday": "Geburtstag", "kind": "Art",
           "external_id": "Kundennummer"},
    "en": {"visit_at": "Visit at", "reason": "Reason", "note": "Note", "question": "Question for the customer",
           "new_serial": "Serial number of the new unit", "technician_party_id": "Technician",
           "manufacturer_party_id": "Manufacturer", "name": "Name", "email": "E-mail", "phone": "Phone",
           "street": "Street", "postcode": "Postcode", "city": "City", "birthday": "Birthday", "kind": "Kind",
           "external_id": "Customer number"},
}

WEEKDAYS = {"de": ("Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."), "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
                                                                          "Sun")}
MONTHS = {"en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")}


def readable(name: str) -> str:
    return name.replace("_", " ").capitalize()


class Words:
    """The texts of one language, and times in one zone."""

    def __init__(self, language: str, zone: str):
        self.language = language if language in LANGUAGES else "en"
        self.zone_name = zone
        self.zone = ZoneInfo(zone)

    def __call__(self, key: str, **values: object) -> str:
        text = TEXTS[self.language].get(key) or TEXTS["en"].get(key) or key
        return text.format(**values) if values else text

    def state(self, name: str | None) -> str:
        return STATES[self.language].get(name or "", readable(name or "—"))

    def trigger(self, name: str | None) -> str:
        return TRIGGERS[self.language].get(name or "", readable(name or "—"))

    def field(self, name: str) -> str:
        return FIELDS[self.language].get(name, readable(name))

    def role(self, kind: str | None) -> str:
        return self(f"role_{kind}") if kind else "—"

    def step(self, trigger: str | None, kind: str, who: str) -> str | None:
        return STEPS[self.language].get("opened" if kind == "opened" else trigger or "", "").format(who=who) or None

    def guard(self, name: str | None, due: datetime | None) -> str | None:
        text = GUARDS[self.language].get(name or "")
        return text.format(due=self.when(due)) if text else None

    # -- time ---------------------------------------------------------------------------------
    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone)

    def when(self, at: datetime | None, *, with_zone: bool = True) -> str:
        """``Di., 03.03.2026, 17:00 MEZ (Europe/Berlin)`` — always with the zone's name."""
        if at is None:
            return "—"
        t = self.local(at)
        day = WEEKDAYS[self.language][t.weekday()]
        text = (f"{day}, {t:%d.%m.%Y, %H:%M}" if self.language == "de" else
                f"{day} {t.day} {MONTHS['en'][t.month - 1]} {t.year}, {t:%H:%M}")
        return f"{text} {t.tzname()} ({self.zone_name})" if with_zone else text

    def span(self, delta: timedelta) -> str:
        minutes = int(abs(delta.total_seconds()) // 60)
        days, rest = divmod(minutes, 24 * 60)
        hours, minutes = divmod(rest, 60)
        d, h, m = ("T", "Std.", "Min.") if self.language == "de" else ("d", "h", "min")
        parts = [f"{days} {d}" if days else "", f"{hours} {h}" if hours else "", f"{minutes} {m}" if minutes and not days else ""]
        return " ".join(p for p in parts if p) or f"0 {m}"

    def due(self, at: datetime | None, now: datetime) -> tuple[str, bool]:
        """The due time in words, and whether it has passed."""
        if at is None:
            return self("no_deadline"), False
        late = at <= now
        relative = self("overdue_by" if late else "due_in", span=self.span(now - at if late else at - now))
        return f"{self.when(at)} – {relative}", late
