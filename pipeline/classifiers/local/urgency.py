"""Urgency without a learned model: transparent keyword rules in several languages.

The rules run in order: an explicit "not urgent" first (it contains "urgent"), then what
means an incident (critical), then haste (high), then calm (low); anything else is normal.
"""

from __future__ import annotations

import re

from pipeline.domain.classification import Urgency

# Labels seen in helpdesk exports, mapped onto our four levels. Bare numbers are left out:
# some helpdesks count 1 as highest, others as lowest.
_SYNONYMS: dict[str, Urgency] = {
    **dict.fromkeys(("low", "minor", "trivial", "lowest", "p4", "p5"), Urgency.low),
    **dict.fromkeys(("normal", "medium", "moderate", "standard", "default", "p3"), Urgency.normal),
    **dict.fromkeys(("high", "major", "important", "highest", "p2"), Urgency.high),
    **dict.fromkeys(("critical", "urgent", "blocker", "emergency", "p0", "p1"), Urgency.critical),
}


def normalise_urgency(value: object) -> Urgency | None:
    """Our urgency level for a label such as `High`, `P1` or `urgent`; None if unknown."""
    if value is None:
        return None
    return _SYNONYMS.get(str(value).strip().lower())


def _any(*phrases: str) -> str:
    return "|".join(phrases)


NOT_URGENT = _any(
    r"not (?:really |that |so )?urgent",
    r"no rush",
    r"no hurry",
    r"low priority",
    r"whenever (?:you|it)",
    r"when(?:ever)? you (?:get|have) (?:a chance|time)",
    r"nicht (?:so )?dringend",
    r"keine eile",
    r"pas (?:très |si )?urgent",
    r"rien (?:d'|de )urgent",
    r"no es urgente",
    r"sin prisa",
    r"non (?:è )?urgente",
    r"não é urgente",
    r"sem pressa",
    r"niet dringend",
    r"geen haast",
)
CRITICAL = _any(
    r"outage",
    r"(?:is|are|went|goes|has been|have been|been) down",
    r"down for (?:everyone|all)",
    r"production (?:is )?down",
    r"data (?:loss|breach|leak)",
    r"lost all (?:my |our )?data",
    r"hack(?:ed|ers?)",
    r"security (?:breach|incident)",
    r"breach(?:ed)?",
    r"compromised",
    r"ransomware",
    r"emergency",
    r"critical",
    r"fraud(?:ulent)?",
    r"gehackt",
    r"ausfall",
    r"datenverlust",
    r"sicherheitsvorfall",
    r"piraté",
    r"panne (?:générale|totale)",
    r"fuite de données",
    r"hackeado",
    r"hackeada",
    r"caída del servicio",
    r"fuera de servicio",
    r"hackerato",
    r"fuori servizio",
    r"invadid[ao]",
    r"fora do ar",
)
HIGH = _any(
    r"urgent(?:ly)?",
    r"asap",
    r"a\.s\.a\.p\.?",
    r"as soon as possible",
    r"immediately",
    r"right (?:now|away)",
    r"locked out",
    r"can(?:no|')t (?:log ?in|sign in|access)",
    r"unable to (?:log ?in|access)",
    r"not working",
    r"(?:does|do|is|are)n't working",
    r"charged twice",
    r"double charged",
    r"stolen",
    r"dringend",
    r"sofort",
    r"so schnell wie möglich",
    r"eilig",
    r"funktioniert nicht",
    r"urgente?",
    r"immédiatement",
    r"au plus vite",
    r"dès que possible",
    r"ne (?:fonctionne|marche) (?:pas|plus)",
    r"inmediatamente",
    r"lo antes posible",
    r"cuanto antes",
    r"no funciona",
    r"subito",
    r"il prima possibile",
    r"non funziona",
    r"imediatamente",
    r"o mais rápido possível",
    r"não funciona",
    r"spoed",
    r"zo snel mogelijk",
    r"werkt niet",
)
LOW = _any(
    r"suggestion",
    r"feature request",
    r"would be nice",
    r"just (?:wondering|curious)",
    r"feedback",
    r"compliment",
    r"vorschlag",
    r"sugerencia",
    r"suggerimento",
    r"sugestão",
)


# One pass over the lower-cased text (IGNORECASE makes re several times slower); whole words
# only, any letters. At one position the calm phrases are tried first, so "not urgent" is
# taken whole and its "urgent" never counts.
_RULES = re.compile(
    r"(?<!\w)(?:"
    + "|".join(
        f"(?P<{name}>{phrases})"
        for name, phrases in (
            ("calm", NOT_URGENT),
            ("critical", CRITICAL),
            ("high", HIGH),
            ("low", LOW),
        )
    )
    + r")(?!\w)"
)
_PRECEDENCE = (
    ("critical", Urgency.critical),
    ("high", Urgency.high),
    ("calm", Urgency.low),
    ("low", Urgency.low),
)


def rule_urgency(text: str) -> tuple[Urgency, str | None]:
    """Urgency by keyword rules, and the phrase that decided it (None for the default)."""
    found: dict[str, str] = {}
    for match in _RULES.finditer(text.lower()):
        found.setdefault(str(match.lastgroup), match.group(0))
    for group, level in _PRECEDENCE:
        if group in found:
            return level, found[group]
    return Urgency.normal, None
