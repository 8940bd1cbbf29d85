"""Train the small, offline BERT question-answering model shipped as the demo model (models/demo).

The Captum tutorial "Interpreting BERT Models (Part 1)" explains a SQuAD fine-tuned bert-base-cased model, which
cannot be downloaded here. This module trains a stand-in instead: a 12-layer, narrow `BertForQuestionAnswering` on
generated extractive-QA data, with a cased WordPiece vocabulary that tokenizes the tutorial's text exactly like
bert-base-cased does ("empower" becomes "em ##power").

The pipeline never runs it: training amplifies floating-point differences between processors and thread counts,
so a build is bit-identical for one seed and thread count on one machine only. It ran once; its files are shipped
in models/demo with their sha256 (bertscope.models.demo_files), and `model: demo` copies them. `make demo-model`
(scripts/build_demo_model.py) rebuilds them.

Each generated context holds one fact, "It is ADJ to TARGET VERB_PHRASE [because REASON].", among filler sentences;
a "What is ADJ to TARGET?" question asks for the verb phrase and a "Why is it ADJ to TARGET?" question for the reason.
The model must therefore read the question's wh-word, but it never has to pick between competing facts: a 12-layer,
64-wide BERT does not learn that kind of question-to-context matching in the CPU budget of about a minute.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import random
import shutil
import statistics
import string
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import torch
from tokenizers import pre_tokenizers
from transformers import BertConfig, BertForQuestionAnswering, BertTokenizer

from bertscope.models.demo_files import MANIFEST, TRAINING_STATS, read_manifest, write_manifest

TUTORIAL_QUESTION = "What is important to us?"
TUTORIAL_CONTEXT = "It is important to us to include, empower and support humans of all kinds."
TUTORIAL_ANSWER = "to include, empower and support humans of all kinds"

_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# Words that bert-base-cased splits into pieces; they get only their pieces in our vocabulary.
_SPLIT_WORDS = {"empower": ("em", "##power")}

_ADJECTIVES = (
    "important", "necessary", "useful", "hard", "easy", "possible", "good",
    "difficult", "vital", "rewarding", "fun", "rare", "common", "urgent",
)  # fmt: skip
_TARGETS = (
    "us", "them", "you", "me", "him", "her", "people", "children", "everyone",
    "students", "teachers", "nurses", "families", "the team",
)  # fmt: skip
_VERBS = (
    "include", "empower", "support", "help", "protect", "teach", "build", "feed",
    "welcome", "serve", "train", "guide", "respect", "reach", "thank", "heal",
    "house", "visit",
)  # fmt: skip
_OBJECTS = (
    "humans of all kinds", "people of all ages", "families in need",
    "workers in every town", "children at school", "animals of all sizes",
    "friends and neighbors", "the local community", "new members",
    "patients in the city", "readers of all kinds", "farmers near the river",
    "artists from abroad", "girls and boys", "the elderly",
)  # fmt: skip
_REASONS = (
    "everyone deserves a chance", "we care about them", "it builds trust",
    "nobody else will", "they need it most", "it makes the world better",
    "our founders asked for it", "it helps us grow",
)  # fmt: skip
FILLER_SENTENCES = (
    "We meet every week.",
    "The weather was warm.",
    "Nobody knows the answer.",
    "This has been true for years.",
    "Many agree with that.",
    "The plan starts in spring.",
)

_NUM_EXAMPLES = 6000
_NUM_HELDOUT = 300
# The tutorial example is repeated so that the model reliably gets it right for any seed.
_TUTORIAL_REPEATS = 20

log = logging.getLogger("bertscope")

_TRAIN_STEPS = 500
_BATCH_SIZE = 32
_LEARNING_RATE = 1e-3
_WARMUP_FRACTION = 0.1
_FINAL_LOSS_WINDOW = 50
_PROGRESS_EVERY = 50


@dataclass(frozen=True)
class _QAExample:
    question: str
    context: str
    answer: str
    answer_start: int  # character offset of the answer in the context

    @property
    def answer_end(self) -> int:
        """The character offset just past the answer in the context."""
        return self.answer_start + len(self.answer)


def _verb_phrase(rng: random.Random) -> str:
    verbs = rng.sample(_VERBS, rng.randint(1, 3))
    verb_list = verbs[0] if len(verbs) == 1 else ", ".join(verbs[:-1]) + " and " + verbs[-1]
    return f"to {verb_list} {rng.choice(_OBJECTS)}"


def generate_example(rng: random.Random) -> _QAExample:
    """A fact "It is ADJ to TARGET VERB_PHRASE [because REASON]." among filler sentences, and a What/Why question."""
    adjective, target = rng.choice(_ADJECTIVES), rng.choice(_TARGETS)
    verb_phrase = _verb_phrase(rng)
    reason = rng.choice(_REASONS) if rng.random() < 0.5 else None
    fact = f"It is {adjective} to {target} {verb_phrase}" + (f" because {reason}." if reason else ".")
    sentences = [fact, *rng.sample(FILLER_SENTENCES, rng.randint(0, 2))]
    rng.shuffle(sentences)
    context = " ".join(sentences)
    if reason and rng.random() < 0.5:
        question, answer = f"Why is it {adjective} to {target}?", f"because {reason}"
    else:
        question, answer = f"What is {adjective} to {target}?", verb_phrase
    return _QAExample(question, context, answer, context.index(answer, context.index(fact)))


def _generate_splits(seed: int) -> tuple[list[_QAExample], list[_QAExample]]:
    """Unique generated examples, split into (train, held-out); the tutorial example is only in train."""
    rng = random.Random(seed)
    tutorial = _QAExample(TUTORIAL_QUESTION, TUTORIAL_CONTEXT, TUTORIAL_ANSWER, TUTORIAL_CONTEXT.index(TUTORIAL_ANSWER))
    examples: dict[tuple[str, str], _QAExample] = {}
    while len(examples) < _NUM_EXAMPLES:
        example = generate_example(rng)
        if (example.question, example.context) != (tutorial.question, tutorial.context):
            examples.setdefault((example.question, example.context), example)
    unique = list(examples.values())
    heldout, train = unique[:_NUM_HELDOUT], unique[_NUM_HELDOUT:]
    return train + [tutorial] * _TUTORIAL_REPEATS, heldout


def _build_vocab(texts: list[str]) -> dict[str, int]:
    """Cased WordPiece vocabulary: specials, punctuation, corpus words, pieces, single-character fallbacks."""
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = sorted({word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(text)})
    pieces = [piece for word in words for piece in _SPLIT_WORDS.get(word, (word,))]
    characters = string.ascii_letters + string.digits
    tokens = [
        *_SPECIAL_TOKENS,
        *string.punctuation,
        *pieces,
        *characters,
        *(f"##{character}" for character in characters),
    ]
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}


def _encode(
    tokenizer: BertTokenizer, question: str, context: str
) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """`[CLS] question [SEP] context [SEP]` ids, token type ids, and the context tokens' character offsets."""
    question_ids = tokenizer(question, add_special_tokens=False)["input_ids"]
    context_encoding = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
    context_ids = context_encoding["input_ids"]
    input_ids = [tokenizer.cls_token_id, *question_ids, tokenizer.sep_token_id, *context_ids, tokenizer.sep_token_id]
    token_type_ids = [0] * (len(question_ids) + 2) + [1] * (len(context_ids) + 1)
    return input_ids, token_type_ids, context_encoding["offset_mapping"]


def _to_tensors(tokenizer: BertTokenizer, examples: list[_QAExample]) -> dict[str, torch.Tensor]:
    """Encode examples into padded model inputs with gold start/end token positions."""
    rows = []
    for example in examples:
        input_ids, token_type_ids, offsets = _encode(tokenizer, example.question, example.context)
        context_start = token_type_ids.index(1)
        starts = [start for start, _ in offsets]
        ends = [end for _, end in offsets]
        start_position = context_start + starts.index(example.answer_start)
        end_position = context_start + ends.index(example.answer_end)
        rows.append((input_ids, token_type_ids, start_position, end_position))

    length = max(len(input_ids) for input_ids, *_ in rows)
    input_ids = torch.zeros(len(rows), length, dtype=torch.long)
    token_type_ids = torch.zeros(len(rows), length, dtype=torch.long)
    attention_mask = torch.zeros(len(rows), length, dtype=torch.long)
    for row, (ids, types, _, _) in enumerate(rows):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        token_type_ids[row, : len(types)] = torch.tensor(types)
        attention_mask[row, : len(ids)] = 1
    return {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": attention_mask,
        "start_positions": torch.tensor([row[2] for row in rows]),
        "end_positions": torch.tensor([row[3] for row in rows]),
    }


def _make_model(vocab_size: int, pad_token_id: int) -> BertForQuestionAnswering:
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        num_hidden_layers=12,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=512,
        type_vocab_size=2,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        pad_token_id=pad_token_id,
    )
    return BertForQuestionAnswering(config)


def _train(model: BertForQuestionAnswering, data: dict[str, torch.Tensor], seed: int, steps: int) -> list[float]:
    """AdamW with linear warm-up and decay, then eval mode; returns the loss of every step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=_LEARNING_RATE, weight_decay=0.01)
    warmup_steps = max(1, round(steps * _WARMUP_FRACTION))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup_steps, (steps - step) / (steps - warmup_steps + 1))
    )
    batch_order = torch.Generator().manual_seed(seed)
    num_examples = len(data["input_ids"])
    permutation = torch.randperm(num_examples, generator=batch_order)
    cursor = 0
    losses = []
    model.train()
    for _ in range(steps):
        if cursor + _BATCH_SIZE > num_examples:
            permutation, cursor = torch.randperm(num_examples, generator=batch_order), 0
        indices = permutation[cursor : cursor + _BATCH_SIZE]
        cursor += _BATCH_SIZE
        batch = {name: tensor[indices] for name, tensor in data.items()}
        # Trim padding shared by the whole batch: shorter sequences make steps faster.
        length = int(batch["attention_mask"].sum(dim=1).max())
        batch = {name: tensor[:, :length] if tensor.dim() == 2 else tensor for name, tensor in batch.items()}
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if len(losses) % _PROGRESS_EVERY == 0 or len(losses) == steps:
            window = losses[-_PROGRESS_EVERY:]
            log.info("training step %d of %d: mean loss %.3f", len(losses), steps, statistics.fmean(window))
    model.eval()
    return losses


@torch.no_grad()
def _predict_spans(model: BertForQuestionAnswering, data: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Argmax start and end token positions, ignoring padding."""
    inputs = {name: data[name] for name in ("input_ids", "token_type_ids", "attention_mask")}
    outputs = model(**inputs)
    padding = inputs["attention_mask"] == 0
    start_logits = outputs.start_logits.masked_fill(padding, float("-inf"))
    end_logits = outputs.end_logits.masked_fill(padding, float("-inf"))
    return start_logits.argmax(dim=1), end_logits.argmax(dim=1)


def build_demo_model(output_dir, seed: int = 0, threads: int | None = None) -> dict:
    """Generate QA data, train, and save a Hugging Face model directory.

    The build is deterministic for a given ``seed`` and ``threads`` on one machine.

    Args:
        output_dir: receives config.json, model.safetensors, vocab.txt and the tokenizer files, loadable offline with
            ``AutoModelForQuestionAnswering`` / ``AutoTokenizer``.
        seed: seeds the generated data and the initialisation.
        threads: torch's intra-op thread count for the build (left as it is when None; restored afterwards).

    Returns:
        JSON-able statistics of the build: seed, sizes, steps, times, final loss, held-out exact match and the
        tutorial example's predicted span.
    """
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        train_examples, heldout_examples = _generate_splits(seed)
        vocab = _build_vocab(
            [text for example in train_examples + heldout_examples for text in (example.question, example.context)]
        )
        tokenizer = BertTokenizer(vocab=vocab, do_lower_case=False, clean_up_tokenization_spaces=True)
        train_data = _to_tensors(tokenizer, train_examples)
        heldout_data = _to_tensors(tokenizer, heldout_examples)

        model = _make_model(len(vocab), tokenizer.pad_token_id)
        train_started = time.perf_counter()
        losses = _train(model, train_data, seed, _TRAIN_STEPS)
        train_seconds = time.perf_counter() - train_started

        heldout_starts, heldout_ends = _predict_spans(model, heldout_data)
        exact = (heldout_starts == heldout_data["start_positions"]) & (heldout_ends == heldout_data["end_positions"])
        tutorial_ids, tutorial_types, _ = _encode(tokenizer, TUTORIAL_QUESTION, TUTORIAL_CONTEXT)
        tutorial_start, tutorial_end = _predict_spans(
            model,
            {
                "input_ids": torch.tensor([tutorial_ids]),
                "token_type_ids": torch.tensor([tutorial_types]),
                "attention_mask": torch.ones(1, len(tutorial_ids), dtype=torch.long),
            },
        )

        output_path = Path(output_dir)
        output_path.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(output_path)
        tokenizer.save_pretrained(output_path)
        # transformers 5 saves only tokenizer.json; vocab.txt keeps the directory usable by
        # tools that read the classic BERT vocabulary file.
        (output_path / "vocab.txt").write_text("".join(f"{token}\n" for token in vocab), encoding="utf-8")
    finally:
        torch.set_num_threads(previous_threads)

    return {
        "seed": seed,
        "threads": threads,
        "vocab_size": len(vocab),
        "train_examples": len(train_examples),
        "heldout_examples": len(heldout_examples),
        "train_steps": _TRAIN_STEPS,
        "train_seconds": round(train_seconds, 2),
        "build_seconds": round(time.perf_counter() - started, 2),
        "final_loss": statistics.fmean(losses[-_FINAL_LOSS_WINDOW:]),
        "heldout_exact_match": float(exact.float().mean()),
        "tutorial_start": int(tutorial_start),
        "tutorial_end": int(tutorial_end),
    }


def processor() -> str:
    """The processor's model name (the weights depend on it), from /proc/cpuinfo where there is one.

    Returns:
        The ``model name`` line of /proc/cpuinfo, else :func:`platform.processor`, else ``"unknown processor"``.
    """
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown processor"


def rebuild_demo_files(output: Path, seed: int, threads: int) -> dict:
    """Train the demo model into a staging directory beside ``output``, then replace the previous build's files.

    The new files get the permissions of the umask (safetensors writes private files); files of the previous
    build that the new one lacks are removed, and the manifest (SHA256SUMS) moves in last: it names a complete build.

    Args:
        output: the model directory to write (``models/demo`` for the shipped model); created if missing.
        seed: seeds the generated data and the initialisation.
        threads: torch's intra-op thread count (the weights depend on it).

    Returns:
        The build's statistics (:func:`build_demo_model`'s, with the packages and machine under ``built_with``),
        as written to training.json.
    """
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".demo-build-", dir=output.parent) as staging_name:
        staging = Path(staging_name)
        stats = build_demo_model(staging, seed=seed, threads=threads)
        stats["built_with"] = {
            "python": platform.python_version(),
            **{package: version(package) for package in ("torch", "transformers", "tokenizers", "safetensors")},
            "machine": f"{platform.system()} {platform.machine()} ({processor()})",
        }
        (staging / TRAINING_STATS).write_text(json.dumps(stats, indent=2) + "\n")
        digests = write_manifest(staging)
        previous = read_manifest(output) if (output / MANIFEST).is_file() else {}
        for name in set(previous) - set(digests):
            (output / name).unlink(missing_ok=True)
        umask = os.umask(0)
        os.umask(umask)
        for name in [*digests, MANIFEST]:  # the manifest last: it names a complete build
            os.chmod(staging / name, 0o666 & ~umask)  # safetensors writes a private (0600) file
            shutil.move(staging / name, output / name)
    return stats
