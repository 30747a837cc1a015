"""Person names: cue words plus Faker's multilingual first/last-name lists (pure, lazy)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache

NAME = "name"
TOKEN = "[name]"

# Faker's generic "en" list holds ~7,000 US given names, many of them words ("Unknown",
# "Council", "Sunday"); the country lists are curated, so only they are used.
_SKIPPED_LOCALES = frozenset({"en"})

# Words that Faker lists as names but that tickets use as words, products or places. A name
# is never masked on one of these alone; after a title ("Mrs. May") it still is.
_NOT_NAMES_TEXT = """
    A An The My Me Mine Our We You Your He She It They His Her This That These Those Can Will
    May Mark Bill Sue Pat Guy Rose Grace Hope Faith Joy Dawn Eve Art Rich Frank Earl Royal
    Loyal Charity Ernest Price Sales Sale Best Kind Good Small Black White Brown Green Young
    Long King Love Wood Street Road Way Close Room House Smart Back More Too Were Put Ho De Das
    Le La Les El Los Las Il Lo Gli Der Die Sie Den Dem Het Een Per Niks Moet Beste Liebe Lieber
    Forum Echo Alexa Siri Aura Cam Kit Hub Mini Pro Max Nest Ring Tile Plug Home Matter Apple
    Google Amazon Samsung Philips Hue Northwind Team Support Service Sir Madam Dear Hi Hello
    January February March April June July August September October November December Monday
    Tuesday Wednesday Thursday Friday Saturday Sunday London Paris Berlin Madrid Jordan
    Florence Victoria Lincoln Jersey Chelsea Sydney Bristol Valencia Ireland Spain España
    Jeton Summer Winter Autumn Spring Sky Star Sunny Storm River Brook Amber Ruby Crystal
    Penny Ivy Holly Iris Jade Pearl Ginger Honey Cherry Olive Violet Basil Sage
    """
_NOT_NAMES = frozenset(_NOT_NAMES_TEXT.split())
_PARTICLES_TEXT = "van von de der den da di du del della dos das do le la ten ter zu y"
_PARTICLES = frozenset(_PARTICLES_TEXT.split())
_TITLES = (
    r"(?:Mr|Mrs|Ms|Mx|Dr|Prof|Dott|Dott\.ssa|Sig\.ra|Mme|Mlle|Sra|Srta|Dhr|Mevr)\.?"
    r"|Miss|Herr|Frau|Signor|Signora|M\.|Monsieur|Madame|Mademoiselle|Señor|Señora|Mevrouw"
    r"|Meneer|Senhor|Senhora"
)
_WORD = r"[^\W\d_][\w'\u2019-]*"
_SPAN = rf"(?:[A-Z]\.[ \t]?)?{_WORD}(?:[ \t]+{_WORD}){{0,4}}"
# A title names whoever follows it: "Mrs. Ingrid Palmer", "Frau Dr. Wendt", "M. Dupont".
_TITLED = re.compile(rf"\b(?:{_TITLES})(?:[ \t]+(?:Dr|Prof)\.?)?[ \t]+(?P<name>{_SPAN})")
# Cues after which any capitalised words are the writer's name.
_INTRO = re.compile(
    r"\b(?:my name is|my name's|mein name ist|ich heiße|ich heisse|je m'appelle|je m\u2019appelle"
    r"|mon nom est|me llamo|mi nombre es|mi chiamo|il mio nome è|mijn naam is|ik heet"
    r"|o meu nome é|meu nome é|chamo-me|me chamo)[ \t]+"
    rf"(?P<name>{_SPAN})",
    re.IGNORECASE,
)
# Cues after which a name is masked only when it starts with a known given name.
_GREETING = (
    r"hi|hello|hey|dear|hallo|liebe|lieber|bonjour|salut|cher|chère|hola|estimado|estimada"
    r"|querido|querida|ciao|buongiorno|gentile|caro|cara|beste|hoi|olá|prezado|prezada"
    r"|i am|i'm|i\u2019m|this is|ich bin|hier ist|je suis|c'est|soy|sono|ik ben|sou"
    r"|from:|von:|de:|van:|da:|cc:|an:|to:|à:|a:|per:|para:"
    r"|colleague|kollege|kollegin|collègue|colega|collega|partner|husband|wife|son|daughter"
)
_SIGNOFF = (
    r"regards|kind regards|best regards|warm regards|best wishes|best|thanks|thank you"
    r"|many thanks|thanks again|cheers|sincerely|yours sincerely|yours faithfully|yours"
    r"|mit freundlichen grüßen|mit freundlichen grüssen|freundliche grüße|viele grüße"
    r"|beste grüße|liebe grüße|schöne grüße|grüße|gruß|danke|vielen dank|vielen dank im voraus"
    r"|cordialement|bien cordialement|bien à vous|merci|merci d'avance|salutations|bisous"
    r"|saludos|un saludo|saludos cordiales|atentamente|gracias|muchas gracias"
    r"|cordiali saluti|distinti saluti|saluti|grazie|grazie mille"
    r"|met vriendelijke groet|vriendelijke groeten|groeten|groetjes|groet|bedankt|alvast bedankt"
    r"|cumprimentos|atenciosamente|obrigado|obrigada|abraços|abraço"
)
_CUED = tuple(
    re.compile(rf"{cue}(?P<name>{_SPAN})", re.IGNORECASE)
    for cue in (
        rf"(?<![\w])(?:{_GREETING})[ \t]+",
        rf"(?<![\w])(?:{_SIGNOFF})[ \t]*[,!.]?[ \t]*(?:\n[ \t>]*)*(?:[-\u2013\u2014][ \t]*)?",
        # the last line, or the line above an address, is where a signature stands
        r"(?:^|\n)[ \t]*(?:[-\u2013\u2014][ \t]*)?(?=[^\n]*(?:\s*\Z|\n[ \t]*\[address\]))",
    )
)
# A given name and a surname side by side, anywhere: "please call Steven Marsh".
_PAIR = re.compile(rf"(?<![\w.@/-])(?=(?P<name>{_WORD}[ \t]+{_WORD}))")


@cache
def _lexicon() -> tuple[frozenset[str], frozenset[str]]:
    """(given names, surnames) of every Latin-script locale Faker ships, loaded once."""
    import faker.providers.person as person

    given: set[str] = set()
    surnames: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        if module.name in _SKIPPED_LOCALES:
            continue
        provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        for attr, value in vars(provider).items():
            target = given if attr.startswith("first_names") else surnames
            if attr.startswith(("first_names", "last_names")) and isinstance(value, tuple | dict):
                target.update(v for v in value if isinstance(v, str) and v.isalpha())
    return frozenset(given - _NOT_NAMES), frozenset(surnames - _NOT_NAMES)


def _capitalised(word: str) -> bool:
    return word[:1].isupper() and not (len(word) > 1 and word.isupper())


def _name_end(span: str) -> int:
    """Length of the leading run of span that reads as a name (capitalised words, particles)."""
    end = 0
    words = list(re.finditer(r"[A-Z]\.|[^\s]+", span))
    for index, word in enumerate(words):
        text = word.group()
        if text in _PARTICLES and index and index + 1 < len(words):
            continue
        initial = len(text) == 2 and text[0].isupper() and text[1] == "."
        if not (initial or (_capitalised(text) and (text.isalpha() or "-" in text))):
            break
        if text in _NOT_NAMES and index:
            break
        end = word.end()
    return end


def _spans(text: str) -> list[tuple[int, int]]:
    given, surnames = _lexicon()
    found: list[tuple[int, int]] = []

    def take(match: re.Match[str], need_given: bool) -> None:
        start = match.start("name")
        length = _name_end(match.group("name"))
        words = match.group("name")[:length].split()
        if not words:
            return
        first = words[0]
        initial = len(first) == 2 and first.endswith(".")
        if need_given and not (first in given or initial or (len(words) > 1 and first in given)):
            return
        if initial and len(words) == 1:
            return
        found.append((start, start + length))

    for match in _TITLED.finditer(text):
        take(match, need_given=False)
    for match in _INTRO.finditer(text):
        take(match, need_given=False)
    for cued in _CUED:
        for match in cued.finditer(text):
            take(match, need_given=True)
    for match in _PAIR.finditer(text):
        first, last = match.group("name").split()
        if first in given and last in surnames and _capitalised(last):
            found.append((match.start("name"), match.end("name")))
    return found


def mask_names(text: str) -> tuple[str, bool]:
    """Replace person names with [name]; also say whether any was found."""
    spans = _spans(text)
    if not spans:
        return text, False
    # A word confirmed as part of a name is masked wherever else it stands alone.
    words = {w for s, e in spans for w in text[s:e].split() if len(w) > 2 and w.isalpha()}
    words -= _PARTICLES
    for word in words:
        spans += [m.span() for m in re.finditer(rf"(?<![\w@.]){re.escape(word)}(?![\w@])", text)]
    out: list[str] = []
    last = 0
    for start, end in sorted(spans):
        if start < last:
            last = max(last, end)
            continue
        out += [text[last:start], TOKEN]
        last = end
    out.append(text[last:])
    return "".join(out), True
