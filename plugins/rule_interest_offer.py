"""Interest × purchase → offer: the roof box nobody offered the skier (story 000).

A table in the settings maps an interest and something the customer owns (a product
category or a SKU) to a suggestion. Whoever has both gets the suggestion once: as a
marketing message where marketing consent allows one, otherwise as a task for the
account owner to offer it in person — both within the contact budget, both on the
timeline with the rule's name. The rule reacts at once when an interest is noted or an
asset recorded (inside that transaction), and its scan finds the pairs already in
the file::

    [plugins.rule_interest_offer]
    offers = [
      {interest = "skiing", owns = "car", suggest = "roof box or ski rack"},
      {interest = "cooking", owns = ["appliance", "oven"], suggest = "cooking class voucher"},
    ]
    channels = ["email", "sms", "whatsapp"]   # tried in order; none allowed → a task
    due_in_days = 3                           # when the offer task is due
    # texts with {interest}, {suggest}, {product}, {name}, {owner}; the defaults follow [dealercrm] language
    # task_title = "offer {suggest}: mentioned {interest}, owns {product}"   # the account owner's task
    # subject = "An idea for your {product}: {suggest}"
    # body = "Hello {name}, …"

``offers`` replaces the default table (skiing/cycling/family + car, cooking + appliance)
as a whole. ``owns`` is a product category (compared case-insensitively) or a SKU, or
a list of them. The situation is ``"{interest}:{suggest}"`` per customer: one offer per
pair, however many matching things the customer owns. Interests that arrive by CSV
import raise no event; the scan finds them. Messages carry
``data["template"] = "interest_offer"`` for channels with templates.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
from sqlalchemy import String, cast, func, literal, or_, select, update

from dealercrm import AssetRecorded, InterestNoted, hookimpl
from dealercrm.db.models import Actor, Asset, Customer, Interest, Party, Product
from dealercrm.db.rule_models import RuleFiring
from dealercrm.errors import ValidationError
from dealercrm.rules import Candidate, RuleSettings

NAME = "rule_interest_offer"

DEFAULT_OFFERS = (
    {"interest": "skiing", "owns": "car", "suggest": "roof box or ski rack"},
    {"interest": "cycling", "owns": "car", "suggest": "bike carrier"},
    {"interest": "family", "owns": "car", "suggest": "child seat"},
    {"interest": "cooking", "owns": "appliance", "suggest": "cooking class voucher"},
)

TEXTS = {
    "de": {
        "task_title": "Angebot {suggest}: Interesse {interest}, besitzt {product}",
        "subject": "Eine Idee für Ihr {product}: {suggest}",
        "body": ("Guten Tag {name},\n\nSie hatten uns von Ihrem Interesse an {interest} erzählt. Zu Ihrem {product} "
                 "passt {suggest} – sprechen Sie uns gern an, wir beraten Sie persönlich.\n\n{owner}"),
    },
    "en": {
        "task_title": "offer {suggest}: mentioned {interest}, owns {product}",
        "subject": "An idea for your {product}: {suggest}",
        "body": ("Hello {name},\n\nyou told us about your interest in {interest}. A {suggest} goes well with your "
                 "{product} – just ask us, we will advise you in person.\n\n{owner}"),
    },
}


def _norm(text: object) -> str:
    return " ".join(str(text).lower().split())


def offers(settings) -> list[tuple[str, tuple[str, ...], str]]:
    """The offer table as (interest, owned categories or SKUs, suggestion), checked."""
    table = []
    for n, entry in enumerate(settings.get("offers", DEFAULT_OFFERS)):
        if not isinstance(entry, dict) or not all(entry.get(k) for k in ("interest", "owns", "suggest")):
            raise ValidationError(f"[plugins.{NAME}] offers[{n}]", entry,
                                  'needs interest, owns and suggest, e.g. {interest="skiing", owns="car", '
                                  'suggest="roof box or ski rack"}')
        owns = entry["owns"] if isinstance(entry["owns"], (list, tuple)) else [entry["owns"]]
        table.append((_norm(entry["interest"]), tuple(str(o).strip() for o in owns), str(entry["suggest"]).strip()))
    return table


def owned(owns: tuple[str, ...]):
    """Product matches: category (any case) or SKU."""
    return or_(func.lower(Product.category).in_([o.lower() for o in owns]), Product.sku.in_(owns))


def live():
    return Customer.merged_into_id.is_(None) & Customer.erased_at.is_(None)


def candidate(customer_id: int, interest: str, suggest: str, product: str) -> Candidate:
    return Candidate(customer_id, f"{interest}:{suggest}", customer_id=customer_id,
                     evidence={"interest": interest, "suggest": suggest, "product": product})


@attrs.frozen
class Offer:
    """One entry of ``offers``: who has ``interest`` and owns ``owns`` gets ``suggest``."""

    interest: str = ""
    owns: str | list[str] = ""
    suggest: str = ""


@attrs.frozen
class InterestOfferSettings(RuleSettings):
    """``[plugins.rule_interest_offer]`` (see the module docstring); an empty text follows
    ``[dealercrm] language``."""

    offers: list[Offer] = attrs.Factory(lambda: [Offer(**o) for o in DEFAULT_OFFERS])
    channels: list[str] = attrs.Factory(lambda: ["email", "sms", "whatsapp"])
    due_in_days: float = 3
    task_title: str = ""
    subject: str = ""
    body: str = ""


class InterestOffer:
    name = NAME
    description = "interest × purchase → offer: a suggestion from the offer table, by message or in person"
    events = (InterestNoted, AssetRecorded)  # what on_event is called for

    def scan(self, ctx):
        for interest, owns, suggest in offers(ctx.settings):
            query = (select(Interest.customer_id, func.min(Product.name))
                     .join(Customer, Customer.id == Interest.customer_id)
                     .join(Asset, Asset.customer_id == Interest.customer_id)
                     .join(Product, Product.id == Asset.product_id)
                     .where(Interest.tag == interest, owned(owns), live(),
                            ctx.not_fired(Interest.customer_id, f"{interest}:{suggest}"))
                     .group_by(Interest.customer_id).order_by(Interest.customer_id))
            for customer_id, product in ctx.connection.execute(query):
                yield candidate(customer_id, interest, suggest, product)

    def on_event(self, event, ctx):
        if isinstance(event, InterestNoted):
            found = []
            for interest, owns, suggest in offers(ctx.settings):
                if interest != event.tag:
                    continue
                product = ctx.connection.execute(
                    select(Product.name).join(Asset, Asset.product_id == Product.id)
                    .where(Asset.customer_id == event.customer_id, owned(owns)).limit(1)).scalar()
                if product is not None:
                    found.append(candidate(event.customer_id, interest, suggest, product))
            return found
        if isinstance(event, AssetRecorded):
            product = ctx.connection.execute(select(Product.name, Product.category, Product.sku)
                                             .where(Product.id == event.product_id)).one()
            matching = [(i, s) for i, owns, s in offers(ctx.settings)
                        if product.sku in owns or product.category.lower() in {o.lower() for o in owns}]
            if not matching:
                return None
            tags = set(ctx.connection.execute(select(Interest.tag).where(
                Interest.customer_id == event.customer_id, Interest.tag.in_({i for i, _ in matching}))).scalars())
            return [candidate(event.customer_id, i, s, product.name) for i, s in matching if i in tags]
        return None

    def act(self, candidate, ctx):
        customer = ctx.uow.connection.execute(
            select(Customer.name, Actor.name.label("owner"), Party.name.label("party"))
            .join(Party, Party.id == Customer.owner_party_id).outerjoin(Actor, Actor.id == Customer.account_owner_id)
            .where(Customer.id == candidate.customer_id)).one()
        fields = {**candidate.evidence, "name": customer.name,
                  "owner": f"{customer.owner}, {customer.party}" if customer.owner else customer.party}
        texts = TEXTS.get(ctx.crm.settings.language, TEXTS["en"])

        def text(key):
            return str(ctx.settings.get(key) or texts[key]).format(**fields)

        subject = text("subject")
        if ctx.message(subject=subject, body=text("body"), purpose="marketing",
                       channels=tuple(ctx.settings.get("channels", ())),
                       data={"rule": NAME, "template": "interest_offer", **candidate.evidence}):
            return
        heard = ctx.uow.connection.execute(
            select(Interest.note, Interest.noted_at).where(Interest.customer_id == candidate.customer_id,
                                                           Interest.tag == fields["interest"])
            .order_by(Interest.noted_at.desc()).limit(1)).first()
        context = f" ({heard.note}, {heard.noted_at:%Y-%m-%d})" if heard and heard.note else ""
        ctx.task(text("task_title"), purpose="marketing", due_in=timedelta(days=float(ctx.settings["due_in_days"])),
                 note=f"interest: {fields['interest']}{context}\nowns: {fields['product']}\n"
                      f"suggestion: {fields['suggest']}")


@hookimpl(trylast=True)
def dealercrm_register_rules(crm):
    return [InterestOffer()]


@hookimpl
def dealercrm_erase_customer(customer_id, uow):
    """The situation and evidence name the customer's interest ("skiing:…"): personal data, erased with
    the customer (tasks, messages and the timeline are erased by the core)."""
    uow.session.execute(update(RuleFiring).where(RuleFiring.rule == NAME, RuleFiring.customer_id == customer_id)
                        .values(situation=literal("erased:", String) + cast(RuleFiring.id, String), detail=None))


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {NAME: InterestOfferSettings}
