"""Sentiment without a learned model: transparent cue-word rules in several languages.

Each cue found scores -2 (very negative), -1, +1 or +2; a negation just before a cue ("not
happy", "nicht zufrieden", "pas content") flips its sign; shouting (three or more "!", or a
sentence in capitals) pushes the total one step further from neutral. The total maps to the
five levels, and the confidence grows with the number of cues that agree. No cue: neutral,
with a modest confidence (most support tickets are factual).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.domain.classification import Sentiment

# Labels seen in exports and datasets, mapped onto our five levels.
_SYNONYMS: dict[str, Sentiment] = {
    **dict.fromkeys(
        ("very_negative", "very negative", "angry", "furious", "-2"), Sentiment.very_negative
    ),
    **dict.fromkeys(("negative", "neg", "frustrated", "unhappy", "-1"), Sentiment.negative),
    **dict.fromkeys(("neutral", "neu", "none", "0"), Sentiment.neutral),
    **dict.fromkeys(("positive", "pos", "happy", "satisfied", "1", "+1"), Sentiment.positive),
    **dict.fromkeys(
        ("very_positive", "very positive", "delighted", "2", "+2"), Sentiment.very_positive
    ),
}


def normalise_sentiment(value: object) -> Sentiment | None:
    """Our sentiment level for a label such as `Negative`, `angry` or `-1`; None if unknown."""
    if value is None:
        return None
    label = str(value).strip().lower()
    # "-1" is a label as it is; "very-negative" means very_negative.
    return _SYNONYMS.get(label) or _SYNONYMS.get(label.replace("-", "_"))


def _any(*phrases: str) -> str:
    return "|".join(phrases)


VERY_NEGATIVE = _any(
    r"furious",
    r"outraged",
    r"disgusted",
    r"appalling",
    r"unacceptable",
    r"disgrace(?:ful)?",
    r"worst",
    r"scam",
    r"ridiculous",
    r"pathetic",
    r"useless",
    r"cancel(?:ling)? my account",
    r"never again",
    r"sue you",
    r"lawyer",
    r"fed up",
    r"sick of",
    r"unverschämt",
    r"inakzeptabel",
    r"frechheit",
    r"katastrophe",
    r"betrug",
    r"wütend",
    r"inadmissible",
    r"scandaleux",
    r"honteux",
    r"arnaque",
    r"furieux",
    r"furieuse",
    r"inaceptable",
    r"vergonzoso",
    r"estafa",
    r"furioso",
    r"furiosa",
    r"inaccettabile",
    r"vergognoso",
    r"truffa",
    r"furibondo",
    r"inaceitável",
    r"vergonhoso",
    r"golpe",
    r"onacceptabel",
    r"schandalig",
    r"oplichting",
    r"woedend",
)
NEGATIVE = _any(
    r"disappointed",
    r"disappointing",
    r"frustrat(?:ed|ing)",
    r"annoy(?:ed|ing)",
    r"unhappy",
    r"upset",
    r"angry",
    r"terrible",
    r"awful",
    r"horrible",
    r"bad",
    r"poor",
    r"broken",
    r"still (?:not|waiting|no)",
    r"again and again",
    r"complain(?:t|ing)?",
    r"enttäuscht",
    r"ärgerlich",
    r"verärgert",
    r"schlecht",
    r"leider",
    r"unzufrieden",
    r"déçu",
    r"déçue",
    r"mécontent",
    r"mécontente",
    r"énervé",
    r"toujours pas",
    r"mauvais",
    r"decepcionad[oa]",
    r"molest[oa]",
    r"enfadad[oa]",
    r"todavía no",
    r"mal[oa]?",
    r"delus[oa]",
    r"arrabbiat[oa]",
    r"ancora non",
    r"pessim[oa]",
    r"decepcionad[oa]",
    r"chatead[oa]",
    r"ainda não",
    r"péssim[oa]",
    r"teleurgesteld",
    r"boos",
    r"slecht",
    r"nog steeds niet",
)
POSITIVE = _any(
    # Plain "thanks"/"merci" closes most tickets, angry ones too: only warmer thanks count.
    r"thank you (?:so|very) much",
    r"(?:really|much) appreciated?",
    r"appreciate (?:it|that)",
    r"happy",
    r"glad",
    r"good(?! (?:morning|afternoon|evening|day))",
    r"great",
    r"helpful",
    r"pleased",
    r"nice",
    r"love",
    r"vielen herzlichen dank",
    r"zufrieden",
    r"gut",
    r"freue mich",
    r"merci beaucoup",
    r"content",
    r"contente",
    r"ravi",
    r"ravie",
    r"muchas gracias",
    r"content[oa]",
    r"feliz",
    r"grazie mille",
    r"felice",
    r"muito obrigad[oa]",
    r"ótimo",
    r"bom(?! dia)",
    r"hartelijk dank",
    r"tevreden",
    r"goed",
    r"blij",
)
VERY_POSITIVE = _any(
    r"excellent",
    r"amazing",
    r"fantastic",
    r"wonderful",
    r"outstanding",
    r"brilliant",
    r"perfect",
    r"delighted",
    r"awesome",
    r"superb",
    r"best (?:service|support)",
    r"hervorragend",
    r"großartig",
    r"wunderbar",
    r"ausgezeichnet",
    r"begeistert",
    r"excellent",
    r"formidable",
    r"génial",
    r"parfait",
    r"merveilleux",
    r"excelente",
    r"increíble",
    r"maravillos[oa]",
    r"perfect[oa]",
    r"eccellente",
    r"fantastic[oa]",
    r"meraviglios[oa]",
    r"perfett[oa]",
    r"excelente",
    r"maravilhos[oa]",
    r"perfeit[oa]",
    r"uitstekend",
    r"fantastisch",
    r"geweldig",
    r"perfect",
)
# A negation within the two words before a cue flips it ("not happy", "not bad at all").
NEGATION = _any(
    r"not",
    r"never",
    r"no",
    r"isn't",
    r"wasn't",
    r"don't",
    r"doesn't",
    r"didn't",
    r"hardly",
    r"nicht",
    r"kein(?:e|en)?",
    r"nie",
    r"pas",
    r"jamais",
    r"no",
    r"nunca",
    r"non",
    r"mai",
    r"não",
    r"niet",
    r"geen",
    r"nooit",
)

_RULES = re.compile(
    r"(?<!\w)(?:"
    + "|".join(
        f"(?P<{name}>{phrases})"
        for name, phrases in (
            ("very_negative", VERY_NEGATIVE),
            ("very_positive", VERY_POSITIVE),
            ("negative", NEGATIVE),
            ("positive", POSITIVE),
        )
    )
    + r")(?!\w)"
)
_NEGATED = re.compile(r"(?<!\w)(?:" + NEGATION + r")(?:\s+\w+)?\s+$")
_SCORES = {"very_negative": -2, "negative": -1, "positive": 1, "very_positive": 2}
_SHOUTING = re.compile(r"!{3,}|\b[A-ZÄÖÜÉÈÀ]{4,}(?:\s+[A-ZÄÖÜÉÈÀ]{2,}){2,}\b")


@dataclass(frozen=True)
class SentimentReading:
    """The sentiment the rules read, how sure they are, and the cue that weighed most."""

    sentiment: Sentiment
    confidence: float
    cue: str | None = None


def rule_sentiment(text: str) -> SentimentReading:
    """Sentiment by cue-word rules (negation and shouting counted), with a confidence."""
    lowered = text.lower()
    total, cues, strongest, strongest_cue = 0, 0, 0, None
    for match in _RULES.finditer(lowered):
        score = _SCORES[str(match.lastgroup)]
        cue = match.group(0)
        negated = _NEGATED.search(lowered[max(0, match.start() - 24) : match.start()])
        if negated:
            # "not bad" is mildly positive, "not happy" negative: a flip, softened to one step.
            score = -1 if score > 0 else 1
            cue = f"{negated.group(0).strip()} {cue}"
        total += score
        cues += 1
        if abs(score) > abs(strongest):
            strongest, strongest_cue = score, cue
    if _SHOUTING.search(text) and total != 0:
        total += 1 if total > 0 else -1
    if cues == 0:
        return SentimentReading(Sentiment.neutral, 0.6)
    # Cues that cancel out are a mixed text: neutral, and not sure of it.
    confidence = min(0.95, 0.55 + 0.1 * min(cues, 4)) if total else 0.5
    return SentimentReading(_level(total), round(confidence, 2), strongest_cue)


def _level(total: int) -> Sentiment:
    if total <= -2:
        return Sentiment.very_negative
    if total == -1:
        return Sentiment.negative
    if total == 0:
        return Sentiment.neutral
    if total == 1:
        return Sentiment.positive
    return Sentiment.very_positive
