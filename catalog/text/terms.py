"""What text is searched by: words normalised, stemmed and romanised, the same way for what
is stored and for what is asked.

Each text becomes three aligned lists of terms, one per word: its ``words`` (lower case,
diacritics folded, ``ё`` read as ``е``), its ``stems`` (Snowball: Russian for Cyrillic words,
English for Latin ones; Ukrainian has no Snowball stemmer, so its words are found by the
prefix a query's stem gives), and its ``latin`` form (Cyrillic romanised the way English
writes names, BGN/PCGN for Russian and the national system for Ukrainian, then loosened so
"Zelenskiy", "Zelensky" and "Зеленский" meet). A query's words go through the same steps.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

# A word: letters and digits, with apostrophes inside (Ukrainian "м'ясо", English "don't").
WORD = re.compile(r"[^\W_]+(?:['’ʼ][^\W_]+)*")
_APOSTROPHES = str.maketrans("", "", "'’ʼ")
# Letters only Ukrainian writes: a word with one is romanised as Ukrainian.
_UKRAINIAN = set("іїєґ")
# Words longer than this are not words (a hash, a URL run together): kept, but cut.
MAX_TERM = 40

_RUSSIAN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya",
}  # fmt: skip
_UKRAINIAN_TABLE = {
    **_RUSSIAN,
    "г": "h", "ґ": "g", "е": "e", "є": "ie", "и": "y", "і": "i", "ї": "i", "й": "i",
    "х": "kh", "щ": "shch", "ю": "iu", "я": "ia",
}  # fmt: skip
# How names are spelt in English beyond the tables: "Дмитрий" is "Dmitry" more often than
# "Dmitriy", "Зеленський" is "Zelensky" and "Zelenskyy". Applied to every romanised word and
# to every Latin word alike, so the two meet wherever they are spelt either way.
_LOOSE = (
    (re.compile(r"(?:iy|yy|yi|ii|ij)$"), "y"),
    (re.compile(r"ei$"), "ey"),  # "Alexei" and "Aleksey"
    (re.compile(r"^ye"), "e"),  # "Yelena" and "Elena"
    (re.compile(r"(.)\1+"), r"\1"),  # doubled letters: "Zelenskyy", "Rossiya"
    (re.compile(r"ks"), "x"),  # "Aleksandr" and "Alexander" share "alex"
)


@dataclass(frozen=True)
class Terms:
    """A text's words, their stems and their Latin forms, aligned one per word."""

    words: tuple[str, ...]
    stems: tuple[str, ...]
    latin: tuple[str, ...]

    def joined(self) -> tuple[str, str, str]:
        """The three lists as space-separated strings, as the engines index them."""
        return " ".join(self.words), " ".join(self.stems), " ".join(self.latin)


def fold(text: str) -> str:
    """Lower case, ``ё`` as ``е``, Latin diacritics dropped; Cyrillic letters kept whole."""
    out = []
    for char in unicodedata.normalize("NFC", text).lower():
        if char == "ё":
            out.append("е")
        elif "\u0400" <= char <= "\u04ff":
            out.append(char)  # "й" is a letter of its own, not "и" with a mark
        else:
            out.extend(
                c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
            )
    return "".join(out)


def words_of(text: str) -> list[str]:
    """The folded words of ``text``, in order."""
    return [m.group(0).translate(_APOSTROPHES)[:MAX_TERM] for m in WORD.finditer(fold(text))]


def is_cyrillic(word: str) -> bool:
    """Whether the word is written in Cyrillic (by its first letter)."""
    return bool(word) and "\u0400" <= word[0] <= "\u04ff"


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Stemmer.Stemmer:
    stemmer = Stemmer.Stemmer(language)
    stemmer.maxCacheSize = 100_000
    return stemmer


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The Snowball stem of a folded word: Russian for Cyrillic, English for Latin."""
    if word.isdigit():
        return word
    if is_cyrillic(word):
        return str(_stemmer("russian").stemWord(word))
    return str(_stemmer("english").stemWord(word))


@lru_cache(maxsize=200_000)
def romanise(word: str) -> str:
    """A folded word in Latin letters, loosened; a Latin word is only loosened."""
    if is_cyrillic(word):
        table = _UKRAINIAN_TABLE if _UKRAINIAN & set(word) else _RUSSIAN
        word = "".join(table.get(c, c) for c in word)
    return loosen(word)


def loosen(word: str) -> str:
    """The spelling-insensitive form of a Latin word, by the rules of ``_LOOSE``."""
    for pattern, replacement in _LOOSE:
        word = pattern.sub(replacement, word)
    return word


def analyse(text: str) -> Terms:
    """The terms of ``text``: every word, its stem and its Latin form."""
    words = words_of(text)
    return Terms(
        words=tuple(words),
        stems=tuple(stem(w) for w in words),
        latin=tuple(romanise(w) for w in words),
    )


# A query's stem shorter than this is matched whole, not as a prefix: "у" would find
# every word that starts with it.
MIN_PREFIX = 3


@dataclass(frozen=True)
class Probe:
    """How one query word is looked for: the prefix of a stored word or stem, or of a
    stored Latin form; ``exact`` when the word is too short to be a prefix."""

    stem: str
    latin: str
    exact: bool

    def finds(self, word: str) -> bool:
        """Whether a folded stored word is one this probe finds (as the engines would)."""
        forms = (word, stem(word))
        if self.exact:
            return self.stem in forms or romanise(word) == self.latin
        return any(f.startswith(self.stem) for f in forms) or romanise(word).startswith(self.latin)


def probe(word: str) -> Probe:
    """The probe for a folded query word (see ``Probe``)."""
    stemmed = stem(word)
    latin = romanise(stemmed if is_cyrillic(word) else word)
    return Probe(stemmed, latin, exact=len(stemmed) < MIN_PREFIX)


# Ukrainian changes a vowel as a word is inflected: "Київ", "у Києві"; "Харків", "з Харкова".
# A stem is found by the forms with the other vowel too (and no Snowball stemmer knows it).
_ALTERNATING = {"і": "оеє", "ї": "є", "о": "і", "е": "і", "є": "ії"}


def alternates(stem_: str) -> list[str]:
    """The stems a Cyrillic stem may be written as in other forms, by Ukrainian's vowel
    alternation in its last syllable (none for short stems or Latin ones)."""
    if len(stem_) < 4 or not is_cyrillic(stem_):
        return []
    # Russian's stemmer leaves Ukrainian case endings on ("києві"): one vowel is taken off.
    base = stem_[:-1] if stem_[-1] in "іїюяуае" and len(stem_) > 4 else stem_
    found = [base] if base != stem_ else []
    for i in range(len(base) - 1, 0, -1):
        if base[i] in _ALTERNATING:
            if i >= len(base) - 3:  # only the last syllable alternates
                found += [base[:i] + other + base[i + 1 :] for other in _ALTERNATING[base[i]]]
            break
        if base[i] in "аиуяю":
            break
    return found
