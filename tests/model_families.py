"""Tiny random question-answering models of every supported family, built offline, for the tests (and others').

Each has 2 encoder layers of hidden size 16 and 2 heads, a tokenizer of the family's kind trained here by the
``tokenizers`` library on the tutorial's sentences (WordPiece for BERT, DistilBERT and ELECTRA, byte-level BPE for
RoBERTa, Unigram for ALBERT and DeBERTa-v3) and wrapped by the family's own tokenizer class (its normaliser,
pre-tokenizer and pair encoding), non-zero biases and layer-norm parameters (a zero bias hides a wrong position or
token type), and a QA head large enough that input and reference move the logits. ELECTRA and ALBERT get an
embedding size (half the hidden size) below it, so that their projections are exercised; DeBERTa-v3 has neither absolute
positions nor token types, and RoBERTa one token type, as their released models.
"""

from __future__ import annotations

import json
from pathlib import Path

FAMILY_TYPES = ("bert", "roberta", "distilbert", "albert", "electra", "deberta-v2")

CORPUS = [
    "What is important to us?",
    "It is important to us to include, empower and support humans of all kinds.",
    "Who helps the people? We help them where it matters.",
    "a b",
]
MAX_POSITIONS = 128
SIZES = {"hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32, "num_hidden_layers": 2}


def _wordpiece(cls):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trained = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    trained.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trained.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=150, special_tokens=specials))
    return cls(vocab=trained.get_vocab(), do_lower_case=False)


def _byte_level_bpe(cls):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=330,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    trained.train_from_iterator(CORPUS, trainer)
    model = json.loads(trained.to_str())["model"]
    return cls(vocab=model["vocab"], merges=[tuple(merge) for merge in model["merges"]])


def _unigram(cls, specials: list[str], unk: str, **options):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    trained = Tokenizer(models.Unigram())
    trained.pre_tokenizer = pre_tokenizers.Metaspace()
    trained.train_from_iterator(CORPUS, trainers.UnigramTrainer(vocab_size=120, special_tokens=specials, unk_token=unk))
    vocab = json.loads(trained.to_str())["model"]["vocab"]
    return cls(vocab=[tuple(piece) for piece in vocab], **options)


def _tokenizer(model_type: str):
    import transformers

    if model_type in ("bert", "electra"):
        return _wordpiece(transformers.BertTokenizer if model_type == "bert" else transformers.ElectraTokenizer)
    if model_type == "distilbert":
        return _wordpiece(transformers.DistilBertTokenizer)
    if model_type == "roberta":
        return _byte_level_bpe(transformers.RobertaTokenizer)
    if model_type == "albert":
        specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
        return _unigram(transformers.AlbertTokenizer, specials, "<unk>", do_lower_case=False)
    specials = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]
    return _unigram(transformers.DebertaV2Tokenizer, specials, "[UNK]")


def _config(model_type: str, tokenizer, sizes: dict, positions: int):
    import transformers

    common = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "max_position_embeddings": positions,
    }
    embedding_size = sizes["hidden_size"] // 2  # below the hidden size: the projection up is exercised
    if model_type == "bert":
        return transformers.BertConfig(**sizes, **common)
    if model_type == "roberta":
        # positions start at padding_idx + 1, so the table has padding_idx + 1 more rows than the longest input
        common["max_position_embeddings"] += tokenizer.pad_token_id + 1
        return transformers.RobertaConfig(**sizes, **common, type_vocab_size=1)
    if model_type == "distilbert":
        names = {"hidden_size": "dim", "num_attention_heads": "n_heads", "intermediate_size": "hidden_dim"}
        return transformers.DistilBertConfig(
            **{names.get(key, "n_layers"): value for key, value in sizes.items()}, **common
        )
    if model_type == "albert":
        return transformers.AlbertConfig(**sizes, **common, embedding_size=embedding_size)
    if model_type == "electra":
        return transformers.ElectraConfig(**sizes, **common, embedding_size=embedding_size)
    return transformers.DebertaV2Config(
        **sizes,
        **common,
        position_biased_input=False,
        type_vocab_size=0,
        relative_attention=True,
        pos_att_type=["p2c", "c2p"],
        position_buckets=16,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
    )


def build_family_model(
    model_type: str, directory: Path, seed: int = 0, sizes: dict | None = None, positions: int = MAX_POSITIONS
) -> Path:
    """A random ``<Family>ForQuestionAnswering`` and its trained tokenizer saved in ``directory`` like a Hub model.

    Args:
        model_type: one of :data:`FAMILY_TYPES` (``config.json``'s ``model_type``).
        directory: where to save (created).
        seed: torch's seed for the weights.
        sizes: :data:`SIZES`' keys (BERT's names) to change, e.g. a larger model for the benchmark.
        positions: the longest input.

    Returns:
        ``directory``.
    """
    import torch
    from transformers import AutoModelForQuestionAnswering

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(model_type)
    torch.manual_seed(seed)
    config = _config(model_type, tokenizer, SIZES | (sizes or {}), positions)
    model = AutoModelForQuestionAnswering.from_config(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.normal_(0, 0.1)
            elif "LayerNorm" in name or "layer_norm" in name:
                parameter.normal_(1, 0.1)
        model.qa_outputs.weight.normal_(0, 0.3)  # logits that differ between input and reference
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
