"""Benchmark: translation throughput with length-bucketed batching against one text at a time.

The same model translates the same texts twice, greedy decoding both times: once the way the
pipeline does it (`Translator.translate_texts`, texts sorted into batches of similar length), once
one `generate` call per text. A third, informative run batches in input order without sorting,
to show what bucketing itself adds. Prints texts per second and, as the last line, the ratio JSON.

The model is `--model` (a Hugging Face folder, e.g. the demo model the pipeline trained) or, by
default, a randomly initialised Marian model of realistic-ish size (d_model 256, 3+3 layers) with a
tokenizer learned on the repository corpus: its words are noise, its cost per token is real.

Usage: python bench/translate.py [--model PATH] [--texts N] [--batch 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from rich.console import Console
from rich.table import Table

from ops.nlp import corpus


def build_random_model(threads: int):
    """A random Marian model (about 8M parameters) with a tokenizer trained on the corpus."""
    from ops.nlp import trainer
    from ops.nlp.translate import Translator

    config = trainer.TrainerConfig(d_model=256, layers=3, heads=4, ffn_dim=1024, vocab_size=1200, max_positions=256)
    tokenizer = trainer.build_tokenizer(corpus.sentences(), corpus.LANGUAGES, config.vocab_size)
    model = trainer.build_model(tokenizer, config, corpus.DIRECTIONS)
    return Translator(model, tokenizer, name="random-marian-256x3")


def texts_for(n: int, seed: int = 5) -> list[str]:
    """`n` English texts of one to four corpus sentences: the mix of lengths real inputs have."""
    rng = random.Random(seed)
    english = [row["en"] for row in corpus.rows()]
    return [" ".join(rng.choice(english) for _ in range(rng.choice((1, 1, 2, 3, 4)))) for _ in range(n)]


def timed(fn) -> tuple[float, list[str]]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="Hugging Face model folder (default: random Marian).")
    parser.add_argument("--texts", type=int, default=96)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--source", default="en")
    parser.add_argument("--target", default="de")
    args = parser.parse_args()
    console = Console(stderr=True)

    import torch

    torch.set_num_threads(args.threads)
    if args.model:
        from resources.translator import load_translator

        translator = load_translator(args.model, threads=args.threads)
    else:
        translator = build_random_model(args.threads)
    params = sum(p.numel() for p in translator.model.parameters())
    texts = texts_for(args.texts)
    # Texts are single pieces here (the pipeline would split them into sentences first); the
    # benchmark measures batching, so each text goes to the model whole.
    translator.translate_texts(texts[:2], args.source, args.target)  # warm up

    runs = {}
    with console.status("length-bucketed batches"):
        runs["bucketed"] = timed(lambda: translator.translate_texts(
            texts, args.source, args.target, bucketed=True, batch_size=args.batch))  # fmt: skip
    with console.status("batches in input order"):
        runs["unsorted"] = timed(lambda: translator.translate_texts(
            texts, args.source, args.target, bucketed=False, batch_size=args.batch))  # fmt: skip
    with console.status("one text at a time"):
        runs["single"] = timed(lambda: translator.translate_texts(
            texts, args.source, args.target, bucketed=False, batch_size=1))  # fmt: skip

    table = Table(title=f"{translator.name}: {params / 1e6:.1f}M parameters, {len(texts)} texts, "
                        f"{args.threads} threads")  # fmt: skip
    for column in ("strategy", "seconds", "texts/s", "same output as one-at-a-time"):
        table.add_column(column, justify="right")
    single_out = runs["single"][1]
    for name, (seconds, out) in runs.items():
        agree = sum(a == b for a, b in zip(out, single_out, strict=True)) / len(texts)
        table.add_row(name, f"{seconds:.2f}", f"{len(texts) / seconds:.1f}", f"{agree:.0%}")
    console.print(table)

    ours = len(texts) / runs["bucketed"][0]
    baseline = len(texts) / runs["single"][0]
    print(f"bucketed {ours:.1f} texts/s, unsorted batches {len(texts) / runs['unsorted'][0]:.1f}, "
          f"one at a time {baseline:.1f}")  # fmt: skip
    print(json.dumps({
        "bench": "translate",
        "metric": "texts per second (greedy, same model and texts)",
        "unit": "texts/s",
        "ours": round(ours, 2),
        "baseline": round(baseline, 2),
        "baseline_name": "one generate call per text",
        "ratio": round(ours / baseline, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
