"""Event names: the reference list, and an open compositional vocabulary with a held-out twin.

Three sources of names, each a function (rng, n) -> n distinct names for one instance:

- `reference_names`: the reference experiment's fixed list (CATEGORIES, 246 names in 7 categories), one
  category per instance. The `test` split keeps it, so that its scores stay comparable with the
  reference experiment and with earlier runs.
- `open_names`: train and pool. Names composed from a large vocabulary (activities x objects x people x
  places x quoted titles x numbers, in several casings, 1 to 8 words), so that a model must copy the
  names from the prompt rather than recall a list; a share of the instances still use the reference
  list, so that `test` stays within the training distribution.
  A share of the composed instances replace some of their words with made-up ones (`nonce_word`), so
  that copying a word the model has never seen is part of training, not only of `test_novel`.
- `held_out_names`: the `test_novel` split. The same grammar over a second vocabulary whose words,
  themes, people, connectors and number styles never occur in the open vocabulary or the reference
  list (tests/test_names.py checks the letter runs, and their crude stems, on both sides).

Every name is safe for the prompt and the answer format (`is_prompt_safe`): dayplan.task renders an
event as `- NAME (HH:MM - HH:MM)` and parses `<name>([^<]+)</name>`; the warm-start trace lists
overlapping names separated by commas and ends a conflict line with `: keep NAME`.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

MAX_WORDS = 8
# A share of train/pool instances drawn from the reference list: `test` uses only those names.
REFERENCE_SHARE = 0.25
# Names of one instance mostly share a theme (a coherent day); the rest come from any theme.
SAME_THEME = 0.75
# Each of up to MAX_CLAUSES extra clauses (with a person, at a place, a number) is added with this
# probability: most names stay at 1-4 words like a calendar's, 5-8 words are the tail (every clause
# lengthens the prompt, which train.max_prompt_length and warmstart.sft.max_length must hold).
CLAUSE_PROBABILITY = 0.15
MAX_CLAUSES = 2
# Share of composed train/pool instances with made-up words, and the chance that each activity, object
# or place word of such an instance is made up: enough that recalling a vocabulary cannot pass.
NONCE_SHARE = 0.3
NONCE_RATE = 0.4

# `<` would end the parsed name; `>` and `&` read as markup; parentheses hold the times in the prompt;
# commas and colons separate names in the warm-start trace; line breaks end a prompt line.
FORBIDDEN_CHARACTERS = frozenset("<>&(),:\n\r\t")


def is_prompt_safe(name: str) -> bool:
    """True when the name survives the prompt line, the trace and the `<name>` parser unchanged."""
    return (
        bool(name)
        and name == name.strip()
        and name.isprintable()
        and "  " not in name
        and " - " not in name  # the prompt's time separator
        and not name.startswith("-")  # the prompt's bullet
        and not FORBIDDEN_CHARACTERS.intersection(name)
    )


# --- Words, for the disjointness checks ----------------------------------------------------------

_LETTER_RUN = re.compile(r"[^\W\d_]+")
_SUFFIXES = ("ing", "es", "ed", "s", "e")


def word_tokens(text: str) -> set[str]:
    """The casefolded runs of letters: 'O'Brien's Q3 check-in' -> {o, brien, s, q, check, in}."""
    return set(_LETTER_RUN.findall(text.casefold()))


def word_stem(token: str) -> str:
    """A crude stem (no accents, one suffix off), so that 'Reviews', 'reviewing' and 'révue' meet."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", token.casefold()) if not unicodedata.combining(c))
    for suffix in _SUFFIXES:
        if plain.endswith(suffix) and len(plain) - len(suffix) >= 3:
            return plain[: -len(suffix)]
    return plain


# --- Made-up words -------------------------------------------------------------------------------

NONCE_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr", "sk", "gl")
NONCE_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
NONCE_CODAS = ("", "", "n", "r", "s", "k", "x")
NONCE_WORD = re.compile(
    rf"(?:{'|'.join(sorted(NONCE_ONSETS, key=len, reverse=True))})(?:{'|'.join(NONCE_VOWELS)})"
    rf"(?:(?:{'|'.join(sorted(NONCE_ONSETS, key=len, reverse=True))})(?:{'|'.join(NONCE_VOWELS)})){{1,2}}[nrskx]?"
)


def is_nonce_word(token: str) -> bool:
    return NONCE_WORD.fullmatch(token.casefold()) is not None


def nonce_word(rng: random.Random) -> str:
    """A pronounceable made-up word of 2-3 syllables ('skoutavix'), never a held-out word or stem."""
    while True:
        syllables = rng.randint(2, 3)
        word = "".join(rng.choice(NONCE_ONSETS) + rng.choice(NONCE_VOWELS) for _ in range(syllables))
        word += rng.choice(NONCE_CODAS)
        if word_stem(word) not in _held_out_stems():
            return word


def _held_out_stems() -> frozenset[str]:
    global _HELD_OUT_STEMS
    if _HELD_OUT_STEMS is None:
        _HELD_OUT_STEMS = frozenset(word_stem(token) for token in HELD_OUT.tokens())
    return _HELD_OUT_STEMS


_HELD_OUT_STEMS: frozenset[str] | None = None


# --- Vocabularies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Theme:
    activities: tuple[str, ...]  # what happens: "review", "check-in", "stargazing"
    objects: tuple[str, ...]  # what it is about: "budget", "iOS release", "telescope"
    places: tuple[str, ...]


@dataclass(frozen=True)
class NumberStyle:
    """prefix + an integer in [low, high] + suffix: Q3, 2nd, #14, 10k, v4, 30%."""

    prefix: str
    low: int
    high: int
    suffix: str = ""

    def draw(self, rng: random.Random) -> str:
        return f"{self.prefix}{rng.randint(self.low, self.high)}{self.suffix}"


@dataclass(frozen=True)
class Vocabulary:
    themes: dict[str, Theme]
    first_names: tuple[str, ...]
    surnames: tuple[str, ...]
    honorifics: tuple[str, ...]
    codenames: tuple[str, ...]  # shown in quotes: Project 'Nightjar' review
    numbers: tuple[NumberStyle, ...]
    connectors: dict[str, tuple[str, ...]]  # role (with, at, for, and) -> words
    possessive: str | None  # "'s" or None when the vocabulary has none

    def strings(self) -> list[str]:
        """Every piece of text a name from this vocabulary can contain (numbers without their digits)."""
        pieces = [*self.first_names, *self.surnames, *self.honorifics, *self.codenames, *self.themes]
        for theme in self.themes.values():
            pieces += [*theme.activities, *theme.objects, *theme.places]
        pieces += [f"{style.prefix} {style.suffix}" for style in self.numbers]
        pieces += [word for words in self.connectors.values() for word in words]
        return pieces + ([self.possessive] if self.possessive else [])

    def tokens(self) -> set[str]:
        return set().union(*(word_tokens(piece) for piece in self.strings()))


def reference_tokens() -> set[str]:
    return set().union(*(word_tokens(name) for names in CATEGORIES.values() for name in names))


# --- Composition -----------------------------------------------------------------------------------


def _person(rng: random.Random, v: Vocabulary) -> str:
    first, surname, title = rng.choice(v.first_names), rng.choice(v.surnames), rng.choice(v.honorifics)
    return rng.choice((first, f"{first} {surname}", f"{title} {surname}", f"{title} {first} {surname}"))


def _quoted(rng: random.Random, v: Vocabulary) -> str:
    quote = rng.choice("'\"")
    return f"{quote}{rng.choice(v.codenames)}{quote}"


# A template is a sequence of slots; connector slots (with, at, for, and) take the vocabulary's own words.
TEMPLATES = (
    "activity",
    "object activity",
    "activity with person",
    "object activity at place",
    "object quoted activity",
    "number object activity",
    "activity number",
    "activity for object",
    "object and object activity",
    "possessive object activity",
)
CLAUSES = ("with person", "at place", "number")


def _fill(slot: str, rng: random.Random, v: Vocabulary, theme: Theme, nonce_rate: float = 0.0) -> str:
    if slot in NONCE_SLOTS and rng.random() < nonce_rate:
        return nonce_word(rng)
    match slot:
        case "activity":
            return rng.choice(theme.activities)
        case "object":
            return rng.choice(theme.objects)
        case "place":
            return rng.choice(theme.places)
        case "person":
            return _person(rng, v)
        case "possessive":
            return _person(rng, v) + (v.possessive or "")
        case "quoted":
            return _quoted(rng, v)
        case "number":
            return rng.choice(v.numbers).draw(rng)
        case _:
            return rng.choice(v.connectors[slot])


NONCE_SLOTS = frozenset({"activity", "object", "place"})
# Slots whose words keep their own case in every casing style: "van der Berg", "the library", "v4".
VERBATIM_SLOTS = frozenset({"person", "possessive", "place", "quoted", "number"})


def _words(template: str, rng: random.Random, v: Vocabulary, theme: Theme, nonce_rate: float) -> list[tuple[str, bool]]:
    """(text, may change case) for each slot of the template."""
    return [(_fill(slot, rng, v, theme, nonce_rate), slot not in VERBATIM_SLOTS) for slot in template.split()]


def _capitalised(word: str) -> str:
    return word[:1].upper() + word[1:]


def _styled(rng: random.Random, words: list[tuple[str, bool]]) -> str:
    """Sentence case, title case or all lower case, applied to the words that may change case."""
    tokens = [(token, free and token.islower()) for text, free in words for token in text.split()]
    style = rng.choices(("sentence", "title", "lower"), weights=(6, 3, 1))[0]
    if style == "title":
        return " ".join(_capitalised(t) if free else t for t, free in tokens)
    first, free = tokens[0]
    if style == "sentence" and free:
        tokens[0] = (_capitalised(first), free)
    return " ".join(t for t, _ in tokens)


def compose_name(rng: random.Random, vocabulary: Vocabulary, theme: Theme, nonce_rate: float = 0.0) -> str:
    """One name of at most MAX_WORDS words: a template, then up to MAX_CLAUSES clauses, then a casing."""
    while True:
        words = _words(rng.choice(TEMPLATES), rng, vocabulary, theme, nonce_rate)
        for _ in range(MAX_CLAUSES):
            if rng.random() < CLAUSE_PROBABILITY:
                words += _words(rng.choice(CLAUSES), rng, vocabulary, theme, nonce_rate)
        texts = [text for text, _ in words]
        # a word twice reads as a slip ("Cider plus cider tasting", "with A with B")
        if len(set(texts)) == len(texts) and sum(len(text.split()) for text in texts) <= MAX_WORDS:
            return _styled(rng, words)


def compose_names(rng: random.Random, n: int, vocabulary: Vocabulary, nonce_rate: float = 0.0) -> list[str]:
    """n names, distinct even ignoring case (a reader could not tell 'Budget review' from 'budget review')."""
    themes = sorted(vocabulary.themes)
    day = rng.choice(themes)
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        theme = day if rng.random() < SAME_THEME else rng.choice(themes)
        name = compose_name(rng, vocabulary, vocabulary.themes[theme], nonce_rate)
        if name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return names


# --- The three sources -------------------------------------------------------------------------------


def reference_names(rng: random.Random, n: int) -> list[str]:
    """The reference drawing, call for call: one category, then n of its names."""
    return rng.sample(CATEGORIES[rng.choice(sorted(CATEGORIES))], n)


def open_names(rng: random.Random, n: int) -> list[str]:
    if rng.random() < REFERENCE_SHARE:
        return reference_names(rng, n)
    return compose_names(rng, n, OPEN, NONCE_RATE if rng.random() < NONCE_SHARE else 0.0)


def held_out_names(rng: random.Random, n: int) -> list[str]:
    return compose_names(rng, n, HELD_OUT)


NameSource = Callable[[random.Random, int], list[str]]


# The reference experiment's names, one category per instance.
CATEGORIES: dict[str, list[str]] = {
    "music festival": [
        "Opening ceremony",
        "Main stage headliner",
        "Indie rock set",
        "Jazz quartet",
        "DJ set at the tent",
        "Acoustic session",
        "Folk duo",
        "Electronic showcase",
        "Hip hop battle",
        "Reggae afternoon",
        "Drum circle",
        "Meet the artists",
        "Vinyl market",
        "Food truck alley",
        "Silent disco",
        "Light show",
        "Fireworks",
        "Backstage tour",
        "Songwriting workshop",
        "Guitar clinic",
        "Choir performance",
        "Brass band parade",
        "Blues jam",
        "Punk rock set",
        "Orchestra in the park",
        "Karaoke contest",
        "Late night rave",
        "Sunrise yoga",
        "Merch signing",
        "Open mic",
        "Classical recital",
        "Techno marathon",
        "Soul revival",
        "Latin dance class",
        "Closing concert",
        "Poetry slam",
        "Craft beer tasting",
        "Battle of the bands",
    ],
    "university": [
        "Calculus lecture",
        "Physics lab",
        "Office hours with Prof. Rossi",
        "Library study session",
        "Chemistry seminar",
        "Group project meeting",
        "Thesis supervision",
        "Statistics tutorial",
        "Linear algebra exam",
        "History lecture",
        "Philosophy reading group",
        "Career fair",
        "Lunch at the canteen",
        "Gym session",
        "Student council meeting",
        "Programming lab",
        "Biology practical",
        "Economics lecture",
        "Language exchange",
        "Research colloquium",
        "Writing center appointment",
        "Debate club",
        "Orchestra rehearsal",
        "Volunteer tutoring",
        "Guest talk on AI",
        "Machine learning lecture",
        "Hackathon kickoff",
        "Dorm meeting",
        "Exam review session",
        "Lab report writing",
        "Peer review session",
        "Art history class",
        "Chess club",
        "Internship interview",
        "Advisor meeting",
        "Poster session",
    ],
    "tech conference": [
        "Opening keynote",
        "Cloud native panel",
        "Rust workshop",
        "Kubernetes deep dive",
        "Lightning talks",
        "Security roundtable",
        "Networking breakfast",
        "Startup pitch session",
        "Data engineering track",
        "MLOps in practice",
        "Frontend performance talk",
        "Sponsor expo",
        "Hallway track",
        "Career mentoring",
        "Open source summit",
        "Database internals talk",
        "Observability workshop",
        "API design clinic",
        "Closing keynote",
        "Speaker dinner",
        "LLM evaluation panel",
        "Edge computing talk",
        "Accessibility workshop",
        "Unconference slot",
        "Women in tech lunch",
        "Hardware hacking lab",
        "Quantum computing intro",
        "DevEx fireside chat",
        "Privacy engineering talk",
        "Incident response drill",
        "Booth duty",
        "Demo day",
        "GraphQL workshop",
        "Serverless patterns talk",
        "Community meetup",
        "Game dev showcase",
    ],
    "personal errands": [
        "Grocery shopping",
        "Dentist appointment",
        "Haircut",
        "Pick up dry cleaning",
        "Post office",
        "Bank visit",
        "Car service",
        "Pharmacy run",
        "Gym workout",
        "Walk the dog",
        "Call with mom",
        "Pay utility bills",
        "Pick up kids from school",
        "Farmers market",
        "Library book return",
        "Hardware store",
        "Laundry",
        "Cook dinner",
        "Meal prep",
        "Doctor checkup",
        "Buy a birthday gift",
        "Clean the kitchen",
        "Renew passport",
        "Coffee with Anna",
        "Yoga class",
        "Bike repair",
        "Plant the garden",
        "Vet appointment",
        "Recycling drop-off",
        "Tax paperwork",
        "Piano lesson",
        "Swimming",
        "Visit grandma",
        "Movie night",
        "Fix the leaking tap",
        "Book club",
    ],
    "office work": [
        "Team standup",
        "Sprint planning",
        "Client call",
        "Budget review",
        "One-on-one with manager",
        "Code review",
        "Write quarterly report",
        "Design review",
        "Hiring interview",
        "All-hands meeting",
        "Lunch with the team",
        "Product demo",
        "Customer workshop",
        "Inbox zero",
        "Vendor negotiation",
        "Roadmap planning",
        "Training session",
        "Retrospective",
        "Board presentation prep",
        "Security audit",
        "Onboarding new hire",
        "Marketing sync",
        "Sales pipeline review",
        "Analyzing product performance",
        "Brainstorming session",
        "Strategy offsite",
        "Expense reports",
        "Performance reviews",
        "Legal contract review",
        "IT support ticket",
        "Office hours",
        "Partner meeting",
        "Data migration check",
        "Release planning",
        "Press interview",
        "Focus time",
    ],
    "wedding planning": [
        "Venue visit",
        "Cake tasting",
        "Florist meeting",
        "Dress fitting",
        "Suit fitting",
        "Photographer call",
        "Band audition",
        "Menu tasting",
        "Invitations design",
        "Rehearsal dinner",
        "Seating chart session",
        "Ring pickup",
        "Hair and makeup trial",
        "Officiant meeting",
        "Guest list review",
        "Decor shopping",
        "Dance lesson",
        "Budget check",
        "Honeymoon booking",
        "Favors assembly",
        "Catering contract",
        "Transport booking",
        "Bridal shower",
        "Bachelor party",
        "Vows writing",
        "Registry setup",
        "Lighting walkthrough",
        "Videographer meeting",
        "Stationery proofing",
        "Family brunch",
        "Tuxedo return",
        "Welcome bags packing",
    ],
    "sports day": [
        "Morning run",
        "Football match",
        "Tennis practice",
        "Swimming heat",
        "Cycling time trial",
        "Basketball game",
        "Volleyball tournament",
        "Stretching session",
        "Physio appointment",
        "Team briefing",
        "Climbing session",
        "Rowing practice",
        "Yoga recovery",
        "Sprint drills",
        "Strength training",
        "Nutrition talk",
        "Medal ceremony",
        "Relay race",
        "Table tennis",
        "Badminton doubles",
        "Skateboarding demo",
        "Marathon expo",
        "Coach meeting",
        "Video analysis",
        "Ice bath",
        "Archery class",
        "Fencing bout",
        "Golf lesson",
        "Hockey training",
        "Boxing class",
        "Triathlon briefing",
        "Cool-down walk",
    ],
}


# --- The open vocabulary (train and pool) -----------------------------------------------------------
# Verb forms, plurals and spellings come in several variants ("review", "reviews", "reviewing"), so that
# the exact form can only be copied from the prompt.

# fmt: off
OPEN = Vocabulary(
    themes={
        "office": Theme(
            activities=(
                "review", "reviews", "reviewing", "sync", "standup", "stand-up", "planning", "plan",
                "kickoff", "kick-off", "retro", "demo", "demos", "check-in", "follow-up", "sign-off",
                "handover", "presentation", "deep dive", "catch-up", "walkthrough", "one-on-one prep",
            ),
            objects=(
                "budget", "budgets", "roadmap", "OKRs", "KPI", "KPIs", "API", "slides", "pitch deck",
                "payroll", "invoice", "invoices", "contract", "vendor", "client", "clients", "backlog",
                "sprint", "quarterly report", "board", "offsite", "all-hands", "hiring", "headcount",
            ),
            places=("HQ", "the boardroom", "Room 204", "the lobby", "Zoom", "the São Paulo office", "Floor 3"),
        ),
        "university": Theme(
            activities=(
                "lecture", "lectures", "seminar", "tutorial", "lab", "labs", "exam", "exams", "defense",
                "defence", "study session", "revision", "revising", "reading group", "office hours",
                "supervision", "viva",
            ),
            objects=(
                "thesis", "calculus", "physics", "organic chemistry", "statistics", "linear algebra", "Latin",
                "essay", "essays", "dissertation", "midterm", "problem set", "lab report", "poster",
                "Shakespeare", "macroeconomics", "PhD-level topology",
            ),
            places=("the library", "Hall B", "the canteen", "the Old Quad", "Lab 4", "Dr. Okafor's office"),
        ),
        "errands": Theme(
            activities=(
                "shopping", "run", "pickup", "pick-up", "drop-off", "repair", "repairs", "appointment",
                "errand", "errands", "returns", "renewal", "cleaning", "clean-up",
            ),
            objects=(
                "grocery", "groceries", "dry cleaning", "car", "bike", "tyres", "tires", "passport",
                "prescription", "recycling", "kitchen", "garage", "bills", "gift", "gifts", "parcel",
                "parcels", "laundry", "IKEA furniture",
            ),
            places=("the pharmacy", "IKEA", "the post office", "the bank", "downtown", "Main Street", "the mall"),
        ),
        "fitness": Theme(
            activities=(
                "workout", "workouts", "run", "running", "swim", "swimming", "training", "practice", "drills",
                "match", "game", "games", "stretching", "warm-up", "cool-down", "race", "tournament", "class",
            ),
            objects=(
                "tennis", "football", "yoga", "pilates", "HIIT", "CrossFit", "spin", "rowing", "climbing",
                "leg day", "core", "5-a-side", "squash", "half-marathon", "kettlebell",
            ),
            places=("the gym", "the pool", "the track", "Central Park", "the climbing wall", "Court 2"),
        ),
        "music": Theme(
            activities=(
                "rehearsal", "rehearsals", "concert", "gig", "jam", "jam session", "recital", "audition",
                "lesson", "lessons", "performance", "showcase", "soundcheck", "sound check",
            ),
            objects=(
                "piano", "guitar", "violin", "choir", "jazz", "band", "album", "vinyl", "karaoke", "drums",
                "ballet", "salsa", "cello", "Beethoven", "a cappella",
            ),
            places=("the studio", "Carnegie Hall", "the Blue Note", "Studio 2", "the bandstand"),
        ),
        "tech": Theme(
            activities=(
                "deploy", "deployment", "release", "hotfix", "code review", "pairing", "refactor",
                "refactoring", "migration", "postmortem", "post-mortem", "on-call handoff", "debugging",
                "load test", "benchmarking", "design doc review", "bug bash",
            ),
            objects=(
                "iOS", "Android", "API", "GraphQL", "Kubernetes", "Postgres", "CI", "backend", "frontend",
                "database", "login flow", "DevOps", "MLOps", "LLM", "SDK", "OAuth", "WebSocket", "CI/CD",
            ),
            places=("the war room", "the dev hub", "Slack", "the server room", "the McDonald Building"),
        ),
        "social": Theme(
            activities=(
                "dinner", "lunch", "brunch", "breakfast", "coffee", "drinks", "party", "picnic", "barbecue",
                "BBQ", "visit", "call", "catch-up", "playdate", "get-together",
            ),
            objects=(
                "birthday", "anniversary", "wedding", "baby shower", "housewarming", "reunion", "game night",
                "movie night", "family", "neighbours", "book club", "graduation",
            ),
            places=("Grandma's", "the park", "the café", "Luigi's", "McDonald's", "Zoë's flat", "the beach"),
        ),
        "health": Theme(
            activities=(
                "checkup", "check-up", "appointment", "physio", "therapy", "consultation", "scan", "vaccination",
                "follow-up", "screening",
            ),
            objects=(
                "dental", "eye", "blood test", "flu shot", "MRI", "hearing", "skin", "knee", "back", "allergy",
            ),
            places=("the clinic", "St. Mary's", "the hospital", "the dentist's", "Ward 7"),
        ),
        "travel": Theme(
            activities=(
                "flight", "check-in", "boarding", "layover", "transfer", "packing", "booking", "tour",
                "sightseeing", "day trip", "road trip",
            ),
            objects=("hotel", "visa", "luggage", "rental car", "train", "ferry", "museum", "city"),
            places=("JFK", "Heathrow", "São Paulo", "Zürich", "Lisbon", "Tokyo", "Gate 12", "Terminal 2"),
        ),
        "cooking": Theme(
            activities=("cooking", "baking", "meal prep", "prep", "class", "cook-off", "tasting menu", "potluck"),
            objects=("pasta", "sourdough", "crème brûlée", "sushi", "curry", "tacos", "ramen", "jalapeño", "pho"),
            places=("the market", "the bakery", "Nonna's kitchen", "the food hall"),
        ),
        "finance": Theme(
            activities=("filing", "budgeting", "accounting", "reconciliation", "audit prep", "payment", "payments"),
            objects=("taxes", "tax return", "invoices", "mortgage", "401k", "IRA", "expenses", "pension", "ISA"),
            places=("the bank", "the accountant's", "the tax office"),
        ),
    },
    first_names=(
        "Anna", "Zoë", "José", "Mia", "Liam", "Noah", "Emma", "Olivia", "Lucas", "Sofia", "Mateo", "Aisha",
        "Raj", "Priya", "Wei", "Yuki", "Kofi", "Fatima", "Ben", "Hannah", "Omar", "Elena", "Marco", "Jürgen",
        "Agnès", "Siobhán", "DeAndre", "Mary-Kate", "Jean-Luc", "Nils",
    ),
    surnames=(
        "Smith", "Rossi", "O'Brien", "O'Neill", "McDonald", "García", "Müller", "Nguyen", "Kowalski", "Okafor",
        "Chen", "Patel", "Schmidt", "Dubois", "Silva", "Ivanova", "Smith-Jones", "van der Berg", "da Costa",
        "McAllister",
    ),
    honorifics=("Dr.", "Prof.", "Mr.", "Ms.", "Mrs."),
    codenames=(
        "Nightjar", "Phoenix", "Atlas", "Falcon", "Orion", "Hydra", "Maple", "Everest", "Sentinel",
        "Hamlet", "Dune", "Blue Sky", "Apollo-11", "Moonshot",
    ),
    numbers=(
        NumberStyle("Q", 1, 4),
        NumberStyle("", 1, 1, "st"),
        NumberStyle("", 2, 2, "nd"),
        NumberStyle("", 3, 3, "rd"),
        NumberStyle("", 4, 20, "th"),
        NumberStyle("#", 1, 99),
        NumberStyle("", 3, 42, "k"),
        NumberStyle("", 2019, 2031),
        NumberStyle("Week ", 1, 52),
    ),
    connectors={
        "with": ("with",),
        "at": ("at", "in"),
        "for": ("for", "before", "after", "about"),
        "and": ("and", "+"),
    },
    possessive="'s",
)

# --- The held-out vocabulary (test_novel) --------------------------------------------------------------
# Its own themes, people, connectors and number styles; none of its words occur above or in CATEGORIES.

HELD_OUT = Vocabulary(
    themes={
        "sailing": Theme(
            activities=("regatta", "mooring", "splicing", "tacking", "jibing", "hauling", "navigating", "muster"),
            objects=(
                "spinnaker", "mainsail", "jib", "dinghy", "catamaran", "ketch", "schooner", "keel", "tiller",
                "buoy", "sextant", "bilge", "lifejacket",
            ),
            places=("Pier 9", "Tromsø quayside", "Ålesund", "Lighthouse Point", "Skerry Cove"),
        ),
        "astronomy": Theme(
            activities=("stargazing", "observing", "vigil", "collimation", "imaging", "calibrating"),
            objects=(
                "telescope", "nebula", "comet", "Jupiter", "Saturn", "meteor", "Perseids", "Andromeda",
                "spectrograph", "planisphere", "eclipse", "LiDAR",
            ),
            places=("Mauna Kea", "Observatory Ridge", "Kitt Peak", "La Palma"),
        ),
        "farming": Theme(
            activities=("shearing", "milking", "sowing", "harvesting", "harvest", "pruning", "grafting", "haymaking"),
            objects=(
                "sheep", "alpacas", "goats", "orchard", "barley", "turnips", "hives", "honeycomb", "beeswax",
                "silage", "tractor", "heifers",
            ),
            places=("Hollowbrook Farm", "Uppsala", "Østerby", "Glenveagh"),
        ),
        "pottery": Theme(
            activities=("glazing", "firing", "throwing", "whittling", "weaving", "quilting", "embroidery"),
            objects=("kiln", "stoneware", "porcelain", "raku", "earthenware", "loom", "tapestry", "yarn", "linocut"),
            places=("Kiln Shed", "Kyoto atelier", "Jingdezhen"),
        ),
        "archaeology": Theme(
            activities=("excavation", "sieving", "cataloguing", "trenching", "surveying"),
            objects=("amphora", "shards", "mosaic", "fossil", "trowel", "stratigraphy", "ossuary", "Neolithic"),
            places=("Knossos", "Çatalhöyük", "Pompeii", "Tell el-Amarna"),
        ),
        "gatherings": Theme(
            activities=("ceilidh", "hoedown", "jamboree", "soirée", "fête", "séance", "confab", "parley", "huddle"),
            objects=("solstice", "lanterns", "bonfire", "cider", "mead", "après-ski", "rendezvous", "pub-quiz"),
            places=("Harrowgate Barn", "Reykjavík", "Kraków", "Łódź", "Montréal"),
        ),
    },
    first_names=(
        "Ingrid", "Björn", "Renée", "Chloé", "François", "Saoirse", "Tadhg", "Oluwaseun", "Ngozi", "Xiadani",
        "Kazuo", "Dmitri", "Anneliese", "Beatriz", "Ximena", "Thandiwe", "Søren", "Åsa", "Leilani", "LaToya",
        "DeShawn",
    ),
    surnames=(
        "Haugen", "MacLeod", "D'Arcy", "Nakamura-Reyes", "Villeneuve", "Oyelaran", "Abernathy", "Lindqvist",
        "Przybylski", "Fairweather", "Thorsdottir", "Kuznetsov", "Zapata-Ruiz",
    ),
    honorifics=("Capt.", "Sgt.", "Rev.", "Fr.", "Mx.", "Lt.", "Cmdr."),
    codenames=("Kestrel", "Basilisk", "Marigold", "Obsidian", "Tamarind", "Zephyrus", "Quetzal", "Sirocco", "Halcyon"),
    numbers=(
        NumberStyle("v", 1, 9),
        NumberStyle("H", 1, 2),
        NumberStyle("", 2, 12, "x"),
        NumberStyle("", 10, 90, "%"),
        NumberStyle("No. ", 1, 99),
        NumberStyle("Lot ", 1, 40),
    ),
    connectors={
        "with": ("alongside", "featuring"),
        "at": ("near", "beside", "atop"),
        "for": ("toward", "regarding", "amid"),
        "and": ("plus", "versus"),
    },
    possessive=None,
)

# fmt: on

NAME_SOURCES: dict[str, NameSource] = {"reference": reference_names, "open": open_names, "held_out": held_out_names}
