"""What the text search benchmark's catalogue says: titles, Telegram-like captions, credits,
chyrons read by OCR and subtitle cues, in Russian, Ukrainian and English, made up but shaped
like the real thing, and the queries asked of it.

Each language has a vocabulary of a few thousand words built from its syllables, drawn with
a Zipf-like distribution (a few words everywhere, most words rare), Russian and Ukrainian
ones with case endings that vary from one use to the next, so stemming has work to do. Named
people, places and things (Песков, Кремль, Зеленський, Kyiv, drone, беспилотник) are mixed in
as a newsroom writes them: inflected in Cyrillic, romanised in English.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

LANGUAGES = ("ru", "uk", "en")
LANGUAGE_SHARE = (0.45, 0.30, 0.25)
VOCABULARY = 3000
ZIPF = 1.07

_SYLLABLES = {
    "ru": (
        "бвгдзклмнпрстфхчшж",
        ["а", "о", "е", "и", "у", "ы", "я"],
        ["", "а", "ы", "ов", "ом", "ами", "е", "ой", "ий", "ая", "ого", "ение", "ения", "ах"],
    ),
    "uk": (
        "бвгдзклмнпрстхчшж",
        ["а", "о", "е", "и", "і", "у", "ї", "є"],
        ["", "а", "и", "ів", "ою", "ий", "на", "ння", "ці", "ові", "ах"],
    ),
    "en": (
        "bcdfghklmnprstvw",
        ["a", "e", "i", "o", "u", "ou", "ea"],
        ["", "s", "ed", "ing", "er", "tion", "ly"],
    ),
}
# The words every sentence leans on: about a third of what is written.
_FUNCTION = {
    "ru": "и в на по что не с к о из за для от до как это его уже также после".split(),
    "uk": "і в на та що не з до у за для від як це його вже також після про".split(),
    "en": "the of in to and a on for at by from with after as is was that".split(),
}
# Names as each language writes them; Russian and Ukrainian ones inflected.
ENTITIES = {
    "ru": [
        ["Песков", "Пескова", "Пескову", "Песковым"],
        ["Кремль", "Кремля", "Кремле", "Кремлём"],
        ["Москва", "Москвы", "Москве", "Москву"],
        ["Шойгу"],
        ["Зеленский", "Зеленского", "Зеленским"],
        ["Киев", "Киева", "Киеве"],
        ["Харьков", "Харькова", "Харькове"],
        ["Белгород", "Белгорода", "Белгороде"],
        ["беспилотник", "беспилотника", "беспилотники", "беспилотников"],
        ["дрон", "дрона", "дроны", "дронов"],
        ["ракета", "ракеты", "ракетой", "ракет"],
        ["Минобороны"],
        ["Захарова", "Захаровой"],
        ["Лавров", "Лаврова"],
    ],
    "uk": [
        ["Зеленський", "Зеленського", "Зеленським"],
        ["Київ", "Києва", "Києві"],
        ["Харків", "Харкова", "Харкові"],
        ["Одеса", "Одеси", "Одесі"],
        ["Буданов", "Буданова"],
        ["Сирський", "Сирського"],
        ["Пєсков", "Пєскова"],
        ["безпілотник", "безпілотника", "безпілотники", "безпілотників"],
        ["дрон", "дрона", "дрони", "дронів"],
        ["ЗСУ"],
        ["ракета", "ракети", "ракетою"],
    ],
    "en": [
        ["Peskov"],
        ["Kremlin"],
        ["Moscow"],
        ["Zelensky", "Zelenskyy"],
        ["Kyiv"],
        ["Kharkiv"],
        ["Shoigu"],
        ["Belgorod"],
        ["drone", "drones"],
        ["missile", "missiles"],
        ["Lavrov"],
        ["Zakharova"],
        ["Budanov"],
    ],
}
CREDITS = [
    "AFP via Getty Images",
    "TASS",
    "Reuters",
    "РИА Новости",
    "Укрінформ",
    "AP Photo",
    "EPA-EFE",
    "Telegram / @rybar",
    "@ukraina_now",
    "Sputnik / Kremlin Pool",
]
_CHYRONS = {
    "ru": ["СРОЧНО:", "НОВОСТИ", "МОЛНИЯ:", "ПРЯМОЙ ЭФИР"],
    "uk": ["ТЕРМІНОВО:", "НОВИНИ", "НАЖИВО"],
    "en": ["BREAKING:", "LIVE", "DEVELOPING:"],
}
_CAPTION_OPENINGS = ["⚡️", "❗️", "‼️", "🔴", "", "", ""]


@dataclass
class Text:
    """One text of a media: its field, words, time span in a video and language."""

    field: str
    text: str
    lang: str
    at: float | None = None
    until: float | None = None


def _vocabulary(rng: np.random.Generator, lang: str) -> list[str]:
    consonants, vowels, _ = _SYLLABLES[lang]
    made: set[str] = set()
    while len(made) < VOCABULARY:
        word = "".join(
            rng.choice(list(consonants)) + str(rng.choice(vowels))
            for _ in range(int(rng.integers(2, 4)))
        )
        # A stem ends in a consonant, where the endings (mostly vowels) go on.
        made.add(word + str(rng.choice(list(consonants))))
    return sorted(made, key=lambda w: (len(w), w))  # short words are the common ones


class Corpus:
    """A seeded generator of media texts, and of queries that the texts answer or not."""

    def __init__(self, seed: int = 29) -> None:
        self.rng = np.random.default_rng(seed)
        self.fast = random.Random(seed)  # per word and per text: numpy's calls cost more
        self.words = {lang: _vocabulary(self.rng, lang) for lang in LANGUAGES}
        weights = 1.0 / np.arange(1, VOCABULARY + 1) ** ZIPF
        self.p = weights / weights.sum()
        self._draws: dict[str, list[int]] = {lang: [] for lang in LANGUAGES}
        # How often each word was written: rare words are asked among those written at all.
        self.used = {lang: np.zeros(VOCABULARY, np.int64) for lang in LANGUAGES}

    def _index(self, lang: str) -> int:
        draws = self._draws[lang]
        if not draws:
            draws.extend(self.rng.choice(VOCABULARY, 200_000, p=self.p).tolist())
        index = draws.pop()
        self.used[lang][index] += 1
        return index

    def inflect(self, lang: str, stem: str) -> str:
        """The word with one of its language's endings, chosen at random."""
        return stem + self.fast.choice(_SYLLABLES[lang][2])

    def sentence(self, lang: str, count: int) -> str:
        """``count`` words: function words, inflected vocabulary and now and then a name."""
        fast, out = self.fast, []
        for _ in range(count):
            roll = fast.random()
            if roll < 0.3:
                out.append(fast.choice(_FUNCTION[lang]))
            elif roll < 0.36:
                out.append(fast.choice(fast.choice(ENTITIES[lang])))
            else:
                out.append(self.inflect(lang, self.words[lang][self._index(lang)]))
        return " ".join(out)

    def media_texts(self, video: bool) -> list[Text]:
        """About five texts of one media; a video's subtitle cues carry their times."""
        fast = self.fast
        lang = fast.choices(LANGUAGES, LANGUAGE_SHARE)[0]
        texts = [Text("title", self.sentence(lang, fast.randint(4, 8)).capitalize(), lang)]
        for _ in range(fast.randint(1, 2)):
            opening = fast.choice(_CAPTION_OPENINGS)
            body = self.sentence(lang, fast.randint(10, 25))
            texts.append(Text("caption", f"{opening} {body.capitalize()}.".strip(), lang))
        if fast.random() < 0.5:
            texts.append(Text("credit", fast.choice(CREDITS), lang))
        if fast.random() < 0.6:
            words = self.sentence(lang, fast.randint(4, 8)).upper()
            line = f"{fast.choice(_CHYRONS[lang])} {words}"
            at = float(fast.randint(0, 59)) if video else None
            texts.append(Text("ocr", line, lang, at, at + 4.0 if at is not None else None))
        if video and fast.random() < 0.5:
            at = 0.0
            for _ in range(fast.randint(3, 8)):
                span = fast.uniform(1.5, 4.5)
                cue = self.sentence(lang, fast.randint(4, 10)).capitalize()
                texts.append(Text("subtitle", cue, lang, round(at, 2), round(at + span, 2)))
                at += span + fast.uniform(0, 2)
        return texts

    def queries(self, samples: list[str], per_kind: int) -> dict[str, list[str]]:
        """Queries by kind; ``samples`` are stored texts that phrases and pairs come from."""
        rng = self.rng
        long_samples = [s.split() for s in samples if len(s.split()) >= 6]

        def pick(seq: list[str]) -> str:
            return seq[int(rng.integers(len(seq)))]

        def word_of(words: list[str]) -> str:
            content = [w.strip(".,:!") for w in words if len(w.strip(".,:!")) >= 5]
            return pick(content) if content else words[-1]

        def slip(word: str) -> str:
            # OCR misreads a letter inside a word for one of a similar shape.
            similar = dict(zip("иеакрмтлвпудbcdlmnuehr", "нсдхвнгпзнчлhoeinmvcbn", strict=True))
            inside = [i for i in range(2, len(word) - 1) if word[i].lower() in similar]
            if not inside:
                return word + word[-1]
            i = inside[len(inside) // 2]
            return word[:i] + similar[word[i].lower()] + word[i + 1 :]

        def rare(lang: str) -> str:
            # Among the words written one to five times, the rarest first.
            counts = self.used[lang]
            few = np.flatnonzero((counts > 0) & (counts <= 5))
            if not len(few):
                few = np.argsort(np.where(counts > 0, counts, counts.max() + 1))[:50]
            return self.words[lang][int(few[int(rng.integers(len(few)))])]

        names = ["Peskov", "Zelensky", "Shoigu", "Kharkiv", "Kremlin", "Zakharova", "Budanov"]
        names += ["Песков", "Зеленский", "Шойгу", "Лавров", "Пєсков", "Зеленського"]
        inflected = ["Пескову", "Кремлём", "беспилотниками", "дронами", "Захаровой", "Києвом"]
        made: dict[str, list[str]] = {kind: [] for kind in KINDS}
        for i in range(per_kind):
            lang = LANGUAGES[i % 3]
            made["common word"].append(self.inflect(lang, self.words[lang][i % 8]))
            made["rare word"].append(self.inflect(lang, rare(lang)))
            made["name, other script"].append(names[i % len(names)])
            mid = self.words["ru"][int(rng.integers(50, 500))]
            made["inflected form"].append(
                inflected[i % len(inflected)] if i % 2 else mid + pick(["ами", "ому", "ях"])
            )
            words = pick(long_samples)
            start = int(rng.integers(len(words) - 2))
            phrase = " ".join(w.strip(".,:!") for w in words[start : start + 2])
            made["phrase in quotes"].append(f'"{phrase}"')
            words = pick(long_samples)
            made["two words"].append(f"{word_of(words[:3])} {word_of(words[-3:])}")
            word = word_of(pick(long_samples))
            made["misspelt word"].append(slip(word) if len(word) >= 5 else word + "x")
            # Letters strung together that no vocabulary makes: nothing should answer.
            alphabet = "щъыьэюжфцх" if i % 2 else "qzxjvkw"
            made["no match"].append(
                "".join(str(c) for c in rng.choice(list(alphabet), int(rng.integers(7, 10))))
            )
        return made


KINDS = (
    "common word",
    "rare word",
    "name, other script",
    "inflected form",
    "phrase in quotes",
    "two words",
    "misspelt word",
    "no match",
)
