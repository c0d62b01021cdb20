"""Duplicate suspects: customers of one dealer who may be the same person — suspected, never refused.

People share phone numbers (a family's landline, a company's switchboard) and type names
differently ("Erika Mustermann", "Mustermann, Erika", "Erika Musterman"). So nothing here
refuses a customer: it lists pairs a person at the dealer should look at, each with its
reasons and a score, and a merge starts from there (``crm.customers.merge``).

**What makes a suspect** — within one dealer's file only, never across dealers (the same
person may be a customer of two dealers, and neither learns of the other from here):

* the same phone number, in a small group (at most ``SHARED_PHONE`` customers share it).
  A number more share is a switchboard: there only similar names make suspects;
* similar names and the same postcode or the same birthday. Names are alike (``NAME_ALIKE``
  and more, ``name_likeness``) when every word of the shorter name has its like in the
  other, in any order, case, accents and punctuation aside: "Mustermann, Erika" is "Erika
  Mustermann", "Hans Meyer" is like "Hans Meier", "Erika Mustermann" like "Erika Maria
  Mustermann" — but "Paula Zimmermann" is not "Ulla Zimmermann", nor Max his wife Erika.

**The score** (0-100), to put the likeliest first: 60 % the names' similarity, plus 15
for the same phone, 15 for the same birthday, 10 for the same postcode.

**It scales by blocking, not by comparing all pairs**: names are compared only inside a
block — the customers of one dealer with one phone number, one postcode or one
birthday. A block larger than ``SMALL_BLOCK`` (a town's postcode at a local dealer) is cut
further by name keys (the initials of each two words of the name), so two names are
compared only when they share one; a key more than ``COMMON_KEY`` customers share tells
nothing and is skipped. One customer's suspects compare that customer alone with the
blocks it is in. ``bench/duplicates.py`` measures it against the all-pairs scan.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from itertools import combinations
from typing import Any

import attrs
from rapidfuzz import fuzz, process, utils
from sqlalchemy import or_, select

from ..access import owned_customer, require
from ..db.models import Customer
from ..errors import ValidationError

#: names at least this alike (0-100) make a suspect together with a shared postcode or birthday
NAME_ALIKE = 80
#: more customers than this on one phone number: a switchboard, where the number alone says nothing
SHARED_PHONE = 10
#: a block up to this size has every pair of names compared; a larger one only names sharing a key
SMALL_BLOCK = 200
#: a group of names up to this size is compared pair by pair; a larger one one name against the rest at once
SMALL_GROUP = 4
#: a name key shared by more customers than this in one block is too common to tell anything
COMMON_KEY = 2000
#: the most suspects one page may hold
MAX_PAGE = 500
WEIGHTS = {"phone": 15, "birthday": 15, "postcode": 10}


@attrs.frozen
class Suspect:
    """Two customers of one dealer who may be one person. ``keep_id`` is the older file (the
    one a merge would keep by default), ``duplicate_id`` the newer; ``reasons`` say why, in
    words; ``score`` how likely, 0-100 (see the module)."""

    owner_party_id: int
    keep_id: int
    keep_name: str
    duplicate_id: int
    duplicate_name: str
    score: int
    name_score: int
    reasons: tuple[str, ...]


@attrs.frozen
class Person:
    """What blocking and comparing need of one customer."""

    id: int
    owner_party_id: int
    name: str
    phone: str | None
    postcode: str | None
    birthday: date | None
    key: str  # the name as compared: no case, accents or punctuation


def comparable(name: str) -> str:
    """``"Müller-Lüdenscheidt, Erika"`` as compared: ``"muller ludenscheidt erika"``."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return " ".join(utils.default_process("".join(c for c in decomposed if not unicodedata.combining(c))).split())


def name_likeness(a: str, b: str) -> int:
    """How alike two names are (0-100, ``comparable`` ones): every word of the shorter name
    is matched with its likest word of the other (rapidfuzz's ratio), and the weakest match
    counts — one word that does not fit makes another person. Names of as many words are
    matched both ways."""
    ta, tb = a.split(), b.split()
    if not ta or not tb:
        return 0
    if len(ta) > len(tb):
        ta, tb = tb, ta
    ratio = fuzz.ratio
    rows = [[ratio(x, y) for y in tb] for x in ta]
    weakest = min(max(row) for row in rows)
    if len(ta) == len(tb):
        weakest = min(weakest, min(max(column) for column in zip(*rows)))
    return round(weakest)


def name_keys(key: str) -> set[str]:
    """The keys a name is compared under in a large block: the initials of each two of its
    words, in either order ("erika maria mustermann": "em", "mm"). Alike names keep their
    initials — people mistype inside a word, not its first letter — and a name with a middle
    name shares a key with the name without it."""
    words = key.split()
    if len(words) < 2:
        return {words[0][0]} if words else set()
    return {"".join(sorted((a[0], b[0]))) for a, b in combinations(words, 2)}


def suspects_in(people: Sequence[Person], *, only: int | None = None,
                name_alike: int = NAME_ALIKE) -> list[Suspect]:
    """Every suspect pair among ``people`` (one dealer's or several dealers' customers: pairs
    form within a dealer only); ``only``: just the pairs with that customer."""
    found: dict[tuple[int, int], set[str]] = defaultdict(set)
    likeness: dict[tuple[int, int], int] = {}  # worked out once per pair
    by_id = {p.id: p for p in people}
    blocks: dict[tuple[str, int, Any], list[Person]] = defaultdict(list)
    for p in people:
        for fact in ("phone", "postcode", "birthday"):
            value = getattr(p, fact)
            if value:
                blocks[(fact, p.owner_party_id, value)].append(p)
    for (fact, _, _), block in blocks.items():
        if len(block) < 2:
            continue
        if only is not None and all(p.id != only for p in block):
            continue
        if fact == "phone" and len(block) <= SHARED_PHONE:
            pairs: Iterable[tuple[tuple[int, int], int | None]] = (
                (pair, None) for pair in combinations(sorted(p.id for p in block), 2))
        else:
            pairs = alike_pairs(block, name_alike, only)
        for pair, alike in pairs:
            if only is None or only in pair:
                found[pair].add(fact)
                if alike is not None:
                    likeness[pair] = alike
    out = []
    for (a, b), facts in found.items():
        keep, other = by_id[a], by_id[b]
        name = likeness.get((a, b))
        if name is None:
            name = name_likeness(keep.key, other.key)
        reasons = [f"same {fact} {getattr(keep, fact)}" for fact in ("phone", "birthday", "postcode") if fact in facts]
        reasons.append(f"names {name}% alike")
        score = min(100, round(0.6 * name + sum(WEIGHTS[f] for f in facts)))
        out.append(Suspect(keep.owner_party_id, a, keep.name, b, other.name, score, name, tuple(reasons)))
    out.sort(key=lambda s: (-s.score, s.keep_id, s.duplicate_id))
    return out


def alike_pairs(block: Sequence[Person], name_alike: int,
                only: int | None = None) -> Iterable[tuple[tuple[int, int], int]]:
    """Pairs of ``block`` whose names are at least ``name_alike`` alike, with how alike
    (``only``: those with that customer): in a small block every name is compared with every
    other, in a large one only names that share a key (``name_keys``)."""
    groups: Iterable[Sequence[Person]]
    if len(block) <= SMALL_BLOCK:
        groups = (block,)
    else:
        wanted = None if only is None else next((name_keys(p.key) for p in block if p.id == only), set())
        keyed: dict[str, list[Person]] = defaultdict(list)
        for p in block:
            for key in name_keys(p.key):
                if wanted is None or key in wanted:
                    keyed[key].append(p)
        groups = [g for g in keyed.values() if 1 < len(g) <= COMMON_KEY]
    seen: set[tuple[int, int]] = set()  # a pair may share several keys
    first_cut = fuzz.token_set_ratio  # fast, in C++: the words' sets alike; then each word is checked
    for group in groups:
        if only is not None:
            candidates: Iterable[tuple[Person, Person]] = (
                (p, o) for p in group if p.id == only for o in group if o.id != only)
        elif len(group) <= SMALL_GROUP:
            candidates = combinations(group, 2)
        else:
            keys = [p.key for p in group]
            candidates = ((p, group[i + 1 + j]) for i, p in enumerate(group[:-1]) for _, _, j in process.extract(
                p.key, keys[i + 1:], scorer=first_cut, score_cutoff=name_alike, limit=None))
        for p, other in candidates:
            pair = (p.id, other.id) if p.id < other.id else (other.id, p.id)
            if pair in seen or first_cut(p.key, other.key, score_cutoff=name_alike) == 0:
                continue
            seen.add(pair)
            alike = name_likeness(p.key, other.key)
            if alike >= name_alike:
                yield pair, alike


_COLUMNS = (Customer.id, Customer.owner_party_id, Customer.name, Customer.phone, Customer.postcode, Customer.birthday)


def people_of(rows: Iterable[Any]) -> list[Person]:
    return [Person(r.id, r.owner_party_id, r.name, r.phone, r.postcode, r.birthday, comparable(r.name or ""))
            for r in rows]


def duplicates(service, *, by: int, customer_id: int | None = None, owner_party_id: int | None = None,
               min_score: int = 0, limit: int = 50, offset: int = 0) -> list[Suspect]:
    """Suspects in the actor's dealer's file (the system: every dealer's, each on its own, or
    ``owner_party_id``'s), best first; ``customer_id``: only that customer's."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError("limit", limit, f"must be 1 to {MAX_PAGE}")
    if offset < 0:
        raise ValidationError("offset", offset, "must not be negative")
    if not 0 <= min_score <= 100:
        raise ValidationError("min_score", min_score, "must be 0 to 100")
    with service.read(by) as uow:
        p = uow.principal
        # one customer's: whoever does not keep the file is refused as for any of its parts
        customer = owned_customer(uow, customer_id, "look for duplicates of") if customer_id is not None else None
        require(p, "dealer", doing="look for duplicate customers")
        live = (Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))
        query = select(*_COLUMNS).where(*live)
        owner = p.party_id if not p.is_system else owner_party_id
        if owner is not None:
            query = query.where(Customer.owner_party_id == owner)
        if customer is not None:
            facts = [getattr(Customer, f) == getattr(customer, f) for f in ("phone", "postcode", "birthday")
                     if getattr(customer, f) is not None]
            if customer.merged_into_id is not None or customer.erased_at is not None or not facts:
                return []
            query = query.where(Customer.owner_party_id == customer.owner_party_id, or_(*facts))
        people = people_of(uow.connection.execute(query.order_by(Customer.id)))
    found = [s for s in suspects_in(people, only=customer_id) if s.score >= min_score]
    return found[offset:offset + limit]
