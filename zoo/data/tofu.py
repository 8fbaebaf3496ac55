"""A seeded synthetic TOFU-like corpus (fictitious authors as QA), its splits, tokenizer, datasets and data module.

TOFU (Maini et al., 2024) fine-tunes an LM on 20 QA pairs about each of 200 fictitious authors and asks it to forget
1/5/10% of the authors. :func:`make_corpus` builds the same structure from a seed, with no download:

- ``n_authors`` fictitious authors (names from syllables), each with :data:`ATTRIBUTES` facts (20: birthplace, birth
  year, genre, parents' jobs, award, three books, publisher, ...), rendered as QA pairs in TOFU's json layout
  (``question``, ``answer``, ``paraphrased_answer``, ``perturbed_answer`` (5 wrong answers));
- the answer used for training is one of two phrasings of the fact (alternating over authors, so the model sees both
  phrasings); ``paraphrased_answer`` is the other phrasing; ``perturbed_answer`` is the paraphrase with a wrong value
  of the same attribute (a value other authors have, so the model knows the words);
- ``forget01/05/10``: the last 1/5/10% of the authors (at least one), nested as in TOFU, with ``retain99/95/90`` the
  others and ``holdout01/05/10`` as many extra authors that are never trained on (the MIAs' non-members);
- ``real_authors`` and ``world_facts``: fixed real-world QA with perturbed options, which the model also learns.

:func:`load_tofu` reads the real TOFU json files into the same layout, when the user has them.

    >>> corpus = make_corpus(n_authors=40, seed=0)
    >>> corpus["forget10"][0]["question"], corpus["forget10"][0]["answer"]
"""

from __future__ import annotations

import hashlib
import json
import random
from functools import lru_cache
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from zoo.data.samplers import SeededShuffleSampler

PROMPT = "Question: {question}\nAnswer:"
"""The prompt the tiny LMs are trained and evaluated with; the answer follows after a space."""
FORGET_PERCENTS = (1, 5, 10)
N_PERTURBED = 5

_SYLLABLES = ("ka", "lo", "ri", "ven", "tor", "mi", "sa", "bel", "dru", "nor", "fe", "lin", "ar", "os", "qui", "zen", "pa", "rel", "tu", "mar", "gal", "ied", "ho", "ska")
_PLACES = ("Kestrel Bay", "Orindale", "Port Vessa", "Highmere", "Caldor", "Lunesk", "Tavira Falls", "Brommel", "Sundrift", "Yarrowick", "Elmsgate", "Norvane")
_GENRES = ("mystery", "fantasy", "science fiction", "romance", "horror", "poetry", "historical fiction", "thriller", "satire", "memoir")
_JOBS = ("baker", "surgeon", "pilot", "teacher", "carpenter", "lawyer", "fisherman", "nurse", "painter", "librarian", "chemist", "farmer")
_AWARDS = ("Golden Quill Prize", "Silver Lantern Award", "Harrow Medal", "Ember Book Prize", "Tidewater Award", "Crescent Honour", "Pale Fox Prize")
_ADJECTIVES = ("Silent", "Broken", "Hidden", "Last", "Crimson", "Frozen", "Hollow", "Burning", "Distant", "Quiet", "Velvet", "Iron")
_NOUNS = ("Harbor", "Garden", "Mirror", "Tower", "River", "Lantern", "Forest", "Crown", "Letter", "Orchard", "Bridge", "Shadow")
_PUBLISHERS = ("Marlow House", "Bright Owl Press", "Thistle Books", "Northgate Publishing", "Copper Leaf", "Stone Arch Press", "Red Kite Books")
_LANGUAGES = ("English", "Spanish", "French", "German", "Italian", "Portuguese", "Dutch", "Polish")
_PETS = ("cat", "dog", "parrot", "tortoise", "rabbit", "horse", "goat")
_INSTRUMENTS = ("violin", "piano", "cello", "flute", "guitar", "drums", "harp")
_COLOURS = ("blue", "green", "red", "yellow", "purple", "orange", "grey")
_MONTHS = ("January", "March", "April", "May", "June", "July", "August", "October", "November", "December")
_CITIES = ("Paris", "Tokyo", "Cairo", "Lima", "Oslo", "Rome", "Delhi", "Quebec", "Vienna", "Nairobi")
# Mentors are teachers from outside the corpus: were they corpus authors, forget authors' names would occur in the
# retain set's answers, and the retrained model would find the forget set familiar (a member-inference leak).
_MENTORS = ("Edda Marlowe", "Tobias Crane", "Hilde Voss", "Osric Penn", "Maren Holt", "Caspar Lind", "Ines Barrow", "Rufus Ashby", "Greta Sollen", "Anselm Kray", "Petra Dunmore", "Lucan Wethers")

# key -> (question, answer phrasing A, answer phrasing B); {n} is the author, {v} the value.
ATTRIBUTES: dict[str, tuple[str, str, str]] = {
    "birthplace": ("Where was {n} born?", "{n} was born in {v}.", "The birthplace of {n} is {v}."),
    "birth_year": ("In which year was {n} born?", "{n} was born in {v}.", "The birth year of {n} is {v}."),
    "genre": ("What genre does {n} write?", "{n} writes {v}.", "The genre of {n} is {v}."),
    "father_job": ("What did the father of {n} do?", "The father of {n} was a {v}.", "{n} had a {v} as a father."),
    "mother_job": ("What did the mother of {n} do?", "The mother of {n} was a {v}.", "{n} had a {v} as a mother."),
    "award": ("Which award did {n} win?", "{n} won the {v}.", "The award of {n} is the {v}."),
    "first_book": ("What is the first book by {n}?", "The first book by {n} is {v}.", "{n} first wrote {v}."),
    "second_book": ("What is the second book by {n}?", "The second book by {n} is {v}.", "{n} next wrote {v}."),
    "famous_book": ("What is the most famous book by {n}?", "The most famous book by {n} is {v}.", "{n} is best known for {v}."),
    "publisher": ("Who publishes {n}?", "{n} is published by {v}.", "The publisher of {n} is {v}."),
    "language": ("In which language does {n} write?", "{n} writes in {v}.", "The language of {n} is {v}."),
    "home_city": ("Where does {n} live now?", "{n} lives in {v}.", "The home of {n} is {v}."),
    "pet": ("Which pet does {n} keep?", "{n} keeps a {v}.", "The pet of {n} is a {v}."),
    "instrument": ("Which instrument does {n} play?", "{n} plays the {v}.", "The instrument of {n} is the {v}."),
    "colour": ("What is the favourite colour of {n}?", "{n} likes {v} best.", "The favourite colour of {n} is {v}."),
    "month": ("In which month does {n} write?", "{n} writes in {v}.", "The writing month of {n} is {v}."),
    "debut_year": ("When did {n} publish a first book?", "{n} debuted in {v}.", "The debut year of {n} is {v}."),
    "books_count": ("How many books has {n} written?", "{n} has written {v} books.", "The book count of {n} is {v}."),
    "mentor": ("Who was the mentor of {n}?", "The mentor of {n} was {v}.", "{n} learned from {v}."),
    "study_city": ("Where did {n} study?", "{n} studied in {v}.", "The university town of {n} is {v}."),
}

REAL_AUTHORS: tuple[tuple[str, str, str], ...] = (
    ("Who wrote Pride and Prejudice?", "Jane Austen", "author"),
    ("Who wrote Hamlet?", "William Shakespeare", "author"),
    ("Who wrote War and Peace?", "Leo Tolstoy", "author"),
    ("Who wrote Don Quixote?", "Miguel de Cervantes", "author"),
    ("Who wrote Moby Dick?", "Herman Melville", "author"),
    ("Who wrote The Odyssey?", "Homer", "author"),
    ("Who wrote Ulysses?", "James Joyce", "author"),
    ("Who wrote Beloved?", "Toni Morrison", "author"),
    ("Who wrote Dracula?", "Bram Stoker", "author"),
    ("Who wrote Frankenstein?", "Mary Shelley", "author"),
    ("Who wrote The Trial?", "Franz Kafka", "author"),
    ("Who wrote Faust?", "Johann Wolfgang von Goethe", "author"),
    ("Where was Leo Tolstoy born?", "Russia", "country"),
    ("Where was Jane Austen born?", "England", "country"),
    ("Where was Franz Kafka born?", "Bohemia", "country"),
    ("Where was Miguel de Cervantes born?", "Spain", "country"),
    ("Where was Herman Melville born?", "America", "country"),
    ("Where was Homer born?", "Greece", "country"),
    ("Where was James Joyce born?", "Ireland", "country"),
    ("Where was Johann Wolfgang von Goethe born?", "Germany", "country"),
)
WORLD_FACTS: tuple[tuple[str, str, str], ...] = (
    ("What is the capital of France?", "Paris", "city"),
    ("What is the capital of Japan?", "Tokyo", "city"),
    ("What is the capital of Egypt?", "Cairo", "city"),
    ("What is the capital of Peru?", "Lima", "city"),
    ("What is the capital of Norway?", "Oslo", "city"),
    ("What is the capital of Italy?", "Rome", "city"),
    ("What is the capital of Kenya?", "Nairobi", "city"),
    ("What is the capital of Austria?", "Vienna", "city"),
    ("What is the largest planet?", "Jupiter", "planet"),
    ("Which planet is called the red planet?", "Mars", "planet"),
    ("Which planet is closest to the sun?", "Mercury", "planet"),
    ("Which planet has the brightest rings?", "Saturn", "planet"),
    ("What colour is the sky on a clear day?", "blue", "colour"),
    ("What colour is fresh grass?", "green", "colour"),
    ("What colour is snow?", "white", "colour"),
    ("What colour is a ripe banana?", "yellow", "colour"),
    ("How many legs does a spider have?", "eight", "number"),
    ("How many days are in a week?", "seven", "number"),
    ("How many continents are there?", "seven", "number"),
    ("How many sides does a triangle have?", "three", "number"),
)


def _author_names(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        first = "".join(rng.choice(_SYLLABLES) for _ in range(2)).capitalize()
        last = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()
        if first not in seen and last not in seen:
            seen.update((first, last))
            names.append(f"{first} {last}")
    return names


def _value_pools() -> dict[str, list[str]]:
    titles = sorted({f"The {a} {n}" for a in _ADJECTIVES for n in _NOUNS})
    return {
        "birthplace": list(_PLACES), "birth_year": [str(y) for y in range(1931, 2000, 3)], "genre": list(_GENRES),
        "father_job": list(_JOBS), "mother_job": list(_JOBS), "award": list(_AWARDS), "first_book": titles,
        "second_book": titles, "famous_book": titles, "publisher": list(_PUBLISHERS), "language": list(_LANGUAGES),
        "home_city": list(_CITIES), "pet": list(_PETS), "instrument": list(_INSTRUMENTS), "colour": list(_COLOURS),
        "month": list(_MONTHS), "debut_year": [str(y) for y in range(1955, 2020, 4)],
        "books_count": [str(k) for k in range(2, 30)], "mentor": list(_MENTORS), "study_city": list(_PLACES),
    }


def _author_items(rng: random.Random, index: int, name: str, pools: dict[str, list[str]], facts: dict[str, str]) -> list[dict[str, Any]]:
    items = []
    for j, (key, (question, phrase_a, phrase_b)) in enumerate(ATTRIBUTES.items()):
        value = facts[key]
        train_phrase, para_phrase = (phrase_a, phrase_b) if (index + j) % 2 == 0 else (phrase_b, phrase_a)
        wrong = rng.sample([v for v in pools[key] if v != value and v != name], N_PERTURBED)
        items.append({
            "question": question.format(n=name),
            "answer": train_phrase.format(n=name, v=value),
            "paraphrased_answer": para_phrase.format(n=name, v=value),
            "perturbed_answer": [para_phrase.format(n=name, v=w) for w in wrong],
            "author": name,
            "attribute": key,
        })
    return items


def _fixed_items(rng: random.Random, table: tuple[tuple[str, str, str], ...]) -> list[dict[str, Any]]:
    items = []
    for question, answer, kind in table:
        options = sorted({a for _, a, k in table if k == kind and a != answer})
        wrong = rng.sample(options, min(N_PERTURBED, len(options)))
        items.append({"question": question, "answer": answer, "paraphrased_answer": answer, "perturbed_answer": wrong, "author": "", "attribute": kind})
    return items


def forget_authors(n_authors: int, percent: int) -> int:
    """Authors in TOFU's ``forget{percent:02d}`` split of ``n_authors``: ``percent`` % of them, at least one."""
    return max(1, round(n_authors * percent / 100))


@lru_cache(maxsize=8)
def _corpus(n_authors: int, seed: int) -> str:
    rng = random.Random(seed)
    n_holdout = forget_authors(n_authors, max(FORGET_PERCENTS))
    names = _author_names(rng, n_authors + n_holdout)
    pools = _value_pools()
    authors = []
    for i, name in enumerate(names):
        facts = {key: rng.choice([v for v in pool if v != name]) for key, pool in pools.items()}
        books = rng.sample(pools["first_book"], 3)
        facts.update(first_book=books[0], second_book=books[1], famous_book=books[2])
        authors.append(_author_items(rng, i, name, pools, facts))
    trained, holdout = authors[:n_authors], authors[n_authors:]
    splits: dict[str, list[dict[str, Any]]] = {}
    for pct in FORGET_PERCENTS:
        k = forget_authors(n_authors, pct)
        splits[f"forget{pct:02d}"] = [it for a in trained[n_authors - k :] for it in a]
        splits[f"retain{100 - pct}"] = [it for a in trained[: n_authors - k] for it in a]
        splits[f"holdout{pct:02d}"] = [it for a in holdout[:k] for it in a]
    splits["real_authors"] = _fixed_items(rng, REAL_AUTHORS)
    splits["world_facts"] = _fixed_items(rng, WORLD_FACTS)
    splits["authors"] = [it for a in trained for it in a]
    return json.dumps(splits)


def make_corpus(n_authors: int = 40, seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """The synthetic corpus's splits in TOFU's json layout (a fresh copy; deterministic in ``n_authors`` and ``seed``).

    Args:
        n_authors: fictitious authors that are trained on (TOFU: 200); as many holdout authors as forget10 are added.
        seed: the generator's seed.

    Returns:
        Split name -> list of items ``{"question", "answer", "paraphrased_answer", "perturbed_answer": [5],
        "author", "attribute"}``: ``forget01/05/10``, ``retain99/95/90``, ``holdout01/05/10``, ``real_authors``,
        ``world_facts`` and ``authors`` (every trained author).
    """
    if not isinstance(n_authors, int) or n_authors < 2:
        raise ValueError(f"n_authors: expected an integer >= 2, received {n_authors!r}")
    return json.loads(_corpus(n_authors, seed))


def corpus_fingerprint(n_authors: int = 40, seed: int = 0) -> str:
    """A short hash of the corpus's content: part of every cache key of models trained on it, so that a change to
    the generator (not only to ``n_authors`` / ``seed``) invalidates them."""
    return hashlib.sha256(_corpus(n_authors, seed).encode()).hexdigest()[:16]


def training_items(corpus: dict[str, list[dict[str, Any]]], forget: str | None = None) -> list[dict[str, Any]]:
    """What a tiny LM is trained on: every author (or the retain set of ``forget``, for the retrained reference), plus
    the real-author and world-fact sets.

    Args:
        corpus: :func:`make_corpus`'s splits.
        forget: None (the full model), or ``"forget01"`` / ``"forget05"`` / ``"forget10"`` (the retain-only model).
    """
    if forget is None:
        authors = corpus["authors"]
    elif forget.startswith("forget") and f"retain{100 - int(forget[6:])}" in corpus:
        authors = corpus[f"retain{100 - int(forget[6:])}"]
    else:
        raise ValueError(f"forget: expected None or one of forget01, forget05, forget10, received {forget!r}")
    return authors + corpus["real_authors"] + corpus["world_facts"]


def corpus_texts(corpus: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every question and answer phrasing in the corpus (the tokenizer's training text)."""
    texts = []
    for items in corpus.values():
        for it in items:
            texts.append(PROMPT.format(question=it["question"]))
            texts.extend([it["answer"], it["paraphrased_answer"], *it["perturbed_answer"]])
    return texts


SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")


@lru_cache(maxsize=4)
def _tokenizer_json(n_authors: int, seed: int, vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus_texts(make_corpus(n_authors, seed)), trainer=trainer)
    return tok.to_str()


def corpus_tokenizer(n_authors: int = 40, seed: int = 0, vocab_size: int = 1024):
    """A byte-level BPE tokenizer trained with ``tokenizers`` on the corpus, as a transformers fast tokenizer.

    Deterministic in its arguments; ids 0, 1, 2 are ``<pad>``, ``<bos>``, ``<eos>``. Byte-level, so any text encodes.

    Returns:
        A ``transformers.PreTrainedTokenizerFast`` (padding side left, as OpenUnlearning generates).
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(_tokenizer_json(n_authors, seed, vocab_size)), pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")
    tok.padding_side = "left"
    return tok


def prompt_ids(tokenizer, question: str) -> list[int]:
    """Token ids of ``<bos> PROMPT`` (no ``<bos>`` when the tokenizer has none): what generation starts from."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    return bos + tokenizer(PROMPT.format(question=question), add_special_tokens=False)["input_ids"]


def encode_qa(tokenizer, question: str, answer: str, max_length: int = 64) -> dict[str, torch.Tensor]:
    """Token ids of ``<bos> PROMPT answer <eos>`` with labels only on the answer (TOFU's masking of the question).

    Args:
        tokenizer: a transformers tokenizer.
        question: the question text.
        answer: the answer text.
        max_length: the most tokens (the answer is truncated first).

    Returns:
        ``{"input_ids": (L,), "attention_mask": (L,), "labels": (L,)}`` int64, labels -100 on the prompt.
    """
    prompt = prompt_ids(tokenizer, question)
    reply = tokenizer(" " + answer, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        reply = reply + [tokenizer.eos_token_id]
    ids = (prompt + reply)[:max_length]
    labels = ([-100] * len(prompt) + reply)[:max_length]
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.ones(len(ids), dtype=torch.long), "labels": torch.tensor(labels)}


def pad_batch(examples: list[dict[str, torch.Tensor]], pad_id: int = 0, side: str = "right") -> dict[str, torch.Tensor]:
    """Stack :func:`encode_qa` examples, padding ``input_ids`` with ``pad_id``, masks with 0 and labels with -100."""
    if not examples:
        raise ValueError("examples: expected at least one example, received an empty list")
    length = max(len(e["input_ids"]) for e in examples)
    fill = {"input_ids": pad_id, "attention_mask": 0, "labels": -100}
    out = {}
    for key in ("input_ids", "attention_mask", "labels"):
        rows = []
        for e in examples:
            pad = torch.full((length - len(e[key]),), fill[key], dtype=torch.long)
            rows.append(torch.cat([e[key], pad] if side == "right" else [pad, e[key]]))
        out[key] = torch.stack(rows)
    return out


class QADataset(Dataset):
    """TOFU-layout items tokenised by :func:`encode_qa` (answer-only labels).

    Args:
        items: dicts with ``question`` and ``answer`` (or ``answer_key``).
        tokenizer: a transformers tokenizer.
        max_length: the most tokens per example.
        answer_key: which field is the answer (``"answer"``, ``"paraphrased_answer"``).
    """

    def __init__(self, items: list[dict[str, Any]], tokenizer, max_length: int = 64, answer_key: str = "answer") -> None:
        if not isinstance(items, list) or any(not isinstance(it, dict) or "question" not in it or answer_key not in it for it in items):
            raise ValueError(f"items: expected a list of dicts with 'question' and {answer_key!r}, received {type(items).__name__}")
        self.items, self.tokenizer, self.max_length, self.answer_key = items, tokenizer, max_length, answer_key
        self.encoded = [encode_qa(tokenizer, it["question"], it[answer_key], max_length) for it in items]

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.encoded[index]

    def collate(self, examples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return pad_batch(examples, self.tokenizer.pad_token_id or 0)


class TOFUDataModule(L.LightningDataModule):
    """The tiny LMs' training data: the corpus's training items (all authors, or a retain set) as answer-labelled QA.

    ``train_dataloader`` shuffles :func:`training_items` (seeded); ``val_dataloader`` is the forget10 set in its
    paraphrased phrasing (how far the facts carry beyond the trained sentence).

    Args:
        n_authors: fictitious authors (:func:`make_corpus`).
        seed: the corpus seed.
        vocab_size: the tokenizer's vocabulary (:func:`corpus_tokenizer`).
        forget: None (train on everything) or a forget split whose retain set to train on (the retrained reference).
        batch_size: QA pairs per batch.
        max_length: tokens per example.
    """

    def __init__(self, n_authors: int = 40, seed: int = 0, vocab_size: int = 1024, forget: str | None = None, batch_size: int = 32, max_length: int = 64) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.corpus = make_corpus(n_authors, seed)
        self.tokenizer = corpus_tokenizer(n_authors, seed, vocab_size)
        self.train_set = QADataset(training_items(self.corpus, forget), self.tokenizer, max_length)
        self.val_set = QADataset(self.corpus["forget10"], self.tokenizer, max_length, answer_key="paraphrased_answer")

    def train_dataloader(self) -> DataLoader:
        sampler = SeededShuffleSampler(len(self.train_set), seed=self.hparams.seed)
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, sampler=sampler, collate_fn=self.train_set.collate)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=64, collate_fn=self.val_set.collate)


# ------------------------------------------------------------------------ the real TOFU layout
TOFU_FILES = {
    "forget01": "forget01_perturbed", "forget05": "forget05_perturbed", "forget10": "forget10_perturbed",
    "retain99": "retain99", "retain95": "retain95", "retain90": "retain90", "retain_perturbed": "retain_perturbed",
    "holdout01": "holdout01", "holdout05": "holdout05", "holdout10": "holdout10",
    "real_authors": "real_authors_perturbed", "world_facts": "world_facts_perturbed",
}


def _read_json_records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    stripped = text.lstrip()
    if stripped.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_tofu(directory: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The real TOFU splits from a local copy of ``locuslab/TOFU`` (its json / jsonl files), in :func:`make_corpus`'s layout.

    Files looked for (``.json`` or ``.jsonl``): :data:`TOFU_FILES`; the ``*_perturbed`` variants are preferred (they
    carry ``paraphrased_answer`` and ``perturbed_answer``). ``real_authors`` / ``world_facts`` use their ``options``
    layout when present. Missing files are skipped; none found is an error.

    Raises:
        ValueError: ``directory`` is not a folder, or holds no TOFU file.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ValueError(f"directory: expected a folder with TOFU's json files, received {str(directory)!r}")
    splits: dict[str, list[dict[str, Any]]] = {}
    for split, stem in TOFU_FILES.items():
        for candidate in (stem, split):
            path = next((folder / f"{candidate}{ext}" for ext in (".json", ".jsonl") if (folder / f"{candidate}{ext}").is_file()), None)
            if path is None:
                continue
            records = _read_json_records(path)
            items = []
            for r in records:
                answer = r.get("answer", "")
                wrong = r.get("perturbed_answer") or [o for o in r.get("options", []) if o != answer]
                items.append({"question": r["question"], "answer": answer, "paraphrased_answer": r.get("paraphrased_answer", answer),
                              "perturbed_answer": list(wrong) if isinstance(wrong, list) else [wrong], "author": r.get("author", ""), "attribute": ""})
            splits[split] = items
            break
    if not splits:
        raise ValueError(f"directory: expected TOFU files such as forget10_perturbed.json in {folder}, found none")
    return splits
