"""Language of a ticket: py3langid restricted to the languages support teams meet, ISO 639-1."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

# European, Middle-Eastern and Asian languages a helpdesk plausibly receives. Restricting the
# set keeps short texts from being called Luxembourgish or Volapük.
LANGUAGES = [
    *("en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "sk", "ro"),
    *("hu", "el", "bg", "hr", "ru", "uk", "tr", "ar", "he", "hi", "ja", "zh", "ko", "id", "vi"),
    "th",
]
UNDETERMINED = "und"
MIN_LETTERS = 4  # fewer letters than this cannot tell a language
MIN_PROBABILITY = 0.5
MAX_CHARS = 160  # the opening of a ticket tells its language; py3langid walks every byte
SMALL_BATCH = 8
_LETTER = re.compile(r"[^\W\d_]")

_lock = threading.Lock()
_identifier: Any = None


def _get_identifier() -> Any:
    # Loading decompresses the model (about a second): once per process, and only when needed.
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(
                MODEL_FILE, norm_probs=True, min_confidence=MIN_PROBABILITY
            )
            identifier.set_languages(LANGUAGES)
            _identifier = identifier
        return _identifier


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language, or `und` when it is too short or unclear."""
    text = text[:MAX_CHARS]
    if len(_LETTER.findall(text)) < MIN_LETTERS:
        return UNDETERMINED
    code, _probability = _get_identifier().classify(text)
    return str(code)


def detect_languages(texts: Sequence[str]) -> list[str]:
    """`detect_language` for each text, scored as one batch where py3langid allows it."""
    clipped = [t[:MAX_CHARS] for t in texts]
    # Batch scoring has a fixed cost of its own: for a handful of texts one by one is quicker.
    found = _batch(_get_identifier(), clipped) if len(clipped) >= SMALL_BATCH else None
    return found if found is not None else [detect_language(t) for t in clipped]


def _batch(identifier: Any, texts: list[str]) -> list[str] | None:
    # py3langid scores one text at a time, and its per-call numpy work costs as much as its
    # byte walk: this walks each text with its own tables, then scores the batch in one
    # product, as its `classify` does (norm_probs: softmax of scores / sqrt(bytes)).
    # None (use `classify`) if this py3langid lays its tables out differently.
    try:
        from py3langid.langid import visit_counts

        walk = (identifier.tk_nextmove, identifier._rowbase, identifier.tk_output)
        table, prior, codes = identifier.nb_ptc, identifier.nb_pc, identifier.nb_classes
        if identifier._alias_pairs or table.shape != (table.shape[0], len(codes)):
            return None
    except (ImportError, AttributeError):
        return None
    rows: list[int] = []
    features: list[int] = []
    counts: list[int] = []
    sizes = np.ones(len(texts))
    usable = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        if len(_LETTER.findall(text)) < MIN_LETTERS:
            continue
        encoded = identifier._encode(text)
        visits = visit_counts(*walk, encoded)
        if visits:  # py3langid treats a featureless text as uniform: undetermined
            usable[i], sizes[i] = True, max(len(encoded), 1)
            rows += [i] * len(visits)
            features += visits.keys()
            counts += visits.values()
    # Only the rows of the (float16, 100k-row) table that the batch touches, as py3langid does.
    touched, columns = np.unique(np.array(features, dtype=np.int64), return_inverse=True)
    x = sp.csr_matrix(
        (np.log1p(np.array(counts, dtype=np.float32)), (rows, columns)),
        shape=(len(texts), len(touched)),
    )
    weights = np.asarray(table[touched], dtype=np.float32)
    scores = (np.asarray(x @ weights) + prior) / np.sqrt(sizes)[:, None]
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    probability = scores / scores.sum(axis=1, keepdims=True)
    best = probability.argmax(axis=1)
    return [
        str(codes[b]) if ok and probability[i, b] >= MIN_PROBABILITY else UNDETERMINED
        for i, (b, ok) in enumerate(zip(best, usable, strict=True))
    ]


# Support vocabulary in de, fr, es, it, pt and nl, mapped to English words: a ticket in one of
# these languages also gets the English words, so a mostly-English training set covers it.
# `word*` matches words starting so (stems are chosen to match no English word), `a_b` is a
# phrase, anything else a whole word; a word may have several lines.
GLOSSARY_SOURCE = """
invoice: rechnung* factur* factuur* fattur* fatura*
receipt: quittung* reçu recibo* ricevut* kwitantie*
refund: rückerstatt* erstatt* rembours* reembols* rimbors* terugbetal* geld_zurück
return: widerruf* rücksend* rückgabe* retour retourn* devoluci* devolv* reso restituire restituzione
cancel: storn* annul* kündig* opzeg* cancela*
payment: zahlung* bezahl* paiement* pago pagos pagament* betaling* betaal*
charge: abbuch* abgebucht prélèvement* prélevé cobro* cobrad* addebit* cobran* afschrijving*
twice: doppelt deux_fois dos_veces due_volte duas_vezes twee_keer dubbel*
subscription: abonnement* suscripci* abbonament* assinatura* abo
price: preis* prix precio precios prezzo* preço* prijs*
discount: rabatt* remise descuento* sconto* desconto* korting*
quote: angebot* devis presupuesto* preventivo orçamento* offerte
bulk: großbestellung* grossbestellung* mengenrabatt*
cost: kosten coût coûts coûte coste costo costi custo custos
delivery: liefer* livraison* livré livrer entreg* consegn* levering* bezorg* envío envio
shipping: versand* expédi* spedizion* spedi* verzend* verzonden
parcel: paket* colis paquete* pacco pacchi pacote* pakket*
order: bestell* commande* pedido* ordine ordini encomend*
address: adresse dirección direccion indirizzo endereço adres
late: verspät* retard retraso ritardo atraso vertraag*
missing: fehlt fehlen manque manquant* falta manca mancano ontbreekt
wrong: falsch* erroné* equivocad* sbagliat* errad* verkeerd*
damaged: beschädig* endommag* dañad* danneggiat* danificad* beschadig*
broken: kaputt cassé cassée roto rota rotto rotta quebrad* kapot
device: gerät* appareil* dispositivo* apparaat*
account: konto kontos compte cuenta conta conto
password: passwort kennwort contraseña senha wachtwoord mot_de_passe
login: anmeld* einlogg* connexion iniciar_sesión acceso accesso acesso inlog* aanmeld*
user: benutzer* utilisateur* usuario* utente* usuário* gebruiker*
delete: lösch* supprim* eliminar borrar excluir verwijder*
hacked: gehackt piraté piratée hackead* hackerat* invadid*
fraud: betrug* fraude frode
unauthorized: unbefugt* non_autorisé no_autorizad* non_autorizzat* não_autorizad*
suspicious: verdächtig* sospechos* sospett* suspeit* verdacht*
security: sicherheit* sécurité seguridad sicurezza segurança beveiliging
privacy: datenschutz* confidentialité privacidad privacidade
not working: funktioniert_nicht fonctionne_pas marche_pas no_funciona non_funziona
not working: não_funciona werkt_niet
error: fehler* erreur* errore erro fout
crash: absturz* abgestürzt stürzt plantage
connection: verbindung* verbinding*
disconnected: déconnect* desconect* disconness*
update: aktualisier* mise_à_jour actualiz* atualiz* aggiorn*
battery: akku* batterie batterien batería batteria bateria batterij*
offline: hors_ligne sin_conexión sem_conexão
suggestion: vorschlag* sugerencia* suggeriment* sugestão suggestie*
complaint: beschwerde* plainte queja reclamación reclamo reclamação klacht*
customer service: kundenservice kundendienst service_client atención_al_cliente
customer service: assistenza_clienti atendimento klantenservice
warranty: garantie garantía garanzia garantia
"""


def _glossary_entries(source: str) -> dict[str, str]:
    entries = {}
    for line in source.strip().splitlines():
        concept, _, terms = line.partition(":")
        for term in terms.split():
            entries[term.replace("_", " ")] = concept.strip()
    return entries


DEFAULT_GLOSSARY = _glossary_entries(GLOSSARY_SOURCE)
_TOKEN = re.compile(r"\w+")


class Glossary:
    """Appends the English word for each known foreign support term of a normalised text."""

    def __init__(self, entries: Mapping[str, str]) -> None:
        self.entries = dict(entries)
        self._words: dict[str, str] = {}
        # Stems by their first four letters: one dict lookup per word, not one per stem length.
        self._stems: dict[str, list[tuple[str, str]]] = {}
        self._phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for term, concept in self.entries.items():
            tokens = tuple(_TOKEN.findall(term.lower().rstrip("*")))
            if len(tokens) > 1:
                self._phrases.setdefault(tokens[0], []).append((tokens[1:], concept))
            elif tokens and term.endswith("*") and len(tokens[0]) >= 4:
                self._stems.setdefault(tokens[0][:4], []).append((tokens[0], concept))
            elif tokens:
                self._words[tokens[0]] = concept

    def expand(self, text: str) -> str:
        """The text, plus a line of English words for the foreign terms found in it."""
        tokens = _TOKEN.findall(text)
        found = []
        words, stems, phrases = self._words, self._stems, self._phrases
        for i, token in enumerate(tokens):
            concept = words.get(token)
            if concept is None:
                for stem, stem_concept in stems.get(token[:4], ()):
                    if token.startswith(stem):
                        concept = stem_concept
                        break
            if concept is not None:
                found.append(concept)
            if token in phrases:
                for rest, phrase_concept in phrases[token]:
                    if tuple(tokens[i + 1 : i + 1 + len(rest)]) == rest:
                        found.append(phrase_concept)
        return f"{text}\n{' '.join(found)}" if found else text
