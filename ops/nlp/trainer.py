"""A small Marian-architecture translation model trained from scratch, with its own tokenizer.

This is what the embedded default serves when no real model is configured: a few hundred
sentences of in-domain text (`ops.nlp.corpus`) teach a model of about a million parameters to
translate English to and from German, Spanish and French *for sentences like those*. It learns the
templates and slots of its corpus (tickers, numbers, time expressions); it knows no other words.

The tokenizer is a unigram model trained on the corpus (the `tokenizers` library) with one token
per target language (`>>de<<`) prepended to the source, the way multilingual Marian models are
steered. Everything is saved with `save_pretrained`, so the result loads like any Hugging Face
model (`AutoTokenizer` / `AutoModelForSeq2SeqLM`, offline, from a folder).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ops.nlp.batching import length_buckets

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


def lang_token(code: str) -> str:
    return f">>{code}<<"


@dataclass(frozen=True)
class TrainerConfig:
    """Sizes and budget of the from-scratch model. The defaults train in about a minute on 2 cores."""

    vocab_size: int = 1200
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    ffn_dim: int = 256
    dropout: float = 0.1
    max_positions: int = 128
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    max_seconds: float = 120.0
    seed: int = 13


@dataclass
class TrainResult:
    """The trained model and tokenizer, and how training went."""

    model: Any
    tokenizer: Any
    losses: list[float] = field(default_factory=list)  # mean training loss per epoch
    steps: int = 0
    seconds: float = 0.0
    stopped_by: str = "epochs"  # or "time"
    parameters: int = 0
    config: dict[str, Any] = field(default_factory=dict)


def build_tokenizer(sentences: Sequence[str], languages: Sequence[str], vocab_size: int):
    """A unigram tokenizer learned from `sentences`, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [PAD, EOS, UNK, *(lang_token(code) for code in languages)]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=specials, unk_token=UNK, shrinking_factor=0.75, max_piece_length=12
    )
    tok.train_from_iterator(list(sentences), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, tok.token_to_id(EOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        extra_special_tokens=[lang_token(code) for code in languages],
        model_max_length=512,
    )


def build_model(tokenizer, config: TrainerConfig, pairs: Sequence[tuple[str, str]]):
    """A randomly initialised MarianMTModel sized by `config` for `tokenizer`'s vocabulary."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(config.seed)
    model_config = MarianConfig(
        vocab_size=len(tokenizer),
        decoder_vocab_size=len(tokenizer),
        d_model=config.d_model,
        encoder_layers=config.layers,
        decoder_layers=config.layers,
        encoder_attention_heads=config.heads,
        decoder_attention_heads=config.heads,
        encoder_ffn_dim=config.ffn_dim,
        decoder_ffn_dim=config.ffn_dim,
        dropout=config.dropout,
        attention_dropout=0.0,
        activation_dropout=0.0,
        max_position_embeddings=config.max_positions,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
        share_encoder_decoder_embeddings=True,
        scale_embedding=True,
        # Weights drawn at 1/sqrt(d_model) (0.02 suits pretrained-size models): token signals then
        # match the sinusoidal positions instead of drowning in them, and learning starts at once.
        init_std=config.d_model**-0.5,
        tie_word_embeddings=True,
    )
    model_config.sextant_pairs = [list(p) for p in pairs]
    return MarianMTModel(model_config)


def train(
    examples: Sequence[tuple[str, str, str, str]],
    config: TrainerConfig = TrainerConfig(),
    *,
    tokenizer_sentences: Sequence[str] | None = None,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a model on (source lang, target lang, source text, target text) examples.

    Stops after `config.epochs` or `config.max_seconds`, whichever comes first; `log` hears one
    line per epoch (the Dagster run log shows them as progress).
    """
    import torch

    if threads:
        torch.set_num_threads(threads)
    started = time.monotonic()
    rng = random.Random(config.seed)
    languages = sorted({s for s, *_ in examples} | {t for _, t, *_ in examples})
    pairs = sorted({(s, t) for s, t, *_ in examples})
    texts = list(tokenizer_sentences) if tokenizer_sentences else [x for e in examples for x in e[2:]]
    tokenizer = build_tokenizer(texts, languages, config.vocab_size)
    model = build_model(tokenizer, config, pairs)
    sources = tokenizer([f"{lang_token(t)} {src}" for _, t, src, _ in examples], truncation=True, max_length=128)
    targets = tokenizer(text_target=[tgt for *_, tgt in examples], truncation=True, max_length=128)
    src_ids, tgt_ids = sources["input_ids"], targets["input_ids"]

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    per_epoch = math.ceil(len(examples) / config.batch_size)
    total_steps = max(1, per_epoch * config.epochs)

    def schedule(step: int) -> float:  # linear warmup, then cosine decay to a tenth
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = min(1.0, (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    result = TrainResult(model, tokenizer, parameters=sum(p.numel() for p in model.parameters()), config=asdict(config))
    pad = tokenizer.pad_token_id
    model.train()
    for epoch in range(config.epochs):
        batches = length_buckets([len(ids) for ids in src_ids], max_batch=config.batch_size, max_tokens=1 << 30)
        rng.shuffle(batches)
        epoch_loss, seen = 0.0, 0
        for indices in batches:
            src = _pad([src_ids[i] for i in indices], pad)
            labels = _pad([tgt_ids[i] for i in indices], -100)
            loss = model(input_ids=src, attention_mask=(src != pad).long(), labels=labels).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            result.steps += 1
            epoch_loss += float(loss.detach()) * len(indices)
            seen += len(indices)
        result.losses.append(epoch_loss / max(1, seen))
        elapsed = time.monotonic() - started
        if log is not None:
            log(f"epoch {epoch + 1}/{config.epochs}: loss {result.losses[-1]:.3f}, {result.steps} steps, {elapsed:.0f} s")
        if elapsed > config.max_seconds:
            result.stopped_by = "time"
            break
    model.eval()
    result.seconds = time.monotonic() - started
    return result


def _pad(rows: list[list[int]], value: int):
    import torch

    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


def save(result: TrainResult, folder: Path) -> list[Path]:
    """Write model and tokenizer as a Hugging Face folder; the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    result.model.save_pretrained(folder)
    result.tokenizer.save_pretrained(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file())


def loss_curve_png(losses: Sequence[float]) -> bytes:
    """The training loss per epoch as a PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(range(1, len(losses) + 1), list(losses), marker="o", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
