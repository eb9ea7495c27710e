"""`jaxlm prepare CONFIG [key=value ...]`: prepare the data source and train (or find) the tokenizer."""

from __future__ import annotations

import argparse

from jaxlm.cli import add_config_arguments

HELP = "prepare a config's data (TFDS array_record for local/TFDS sources) and its tokenizer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from jaxlm.config import load_config
    from jaxlm.data import cache_dir, load_tokenizer, open_records
    from jaxlm.objectives import make_loader

    cfg = load_config(args.config, args.overrides)
    where = {"embedded": "the embedded corpus", "local": cfg.data.path, "tfds": cfg.data.tfds_name}[cfg.data.source]
    with tqdm(total=4, desc=f"prepare {cfg.name}", unit="step") as bar:
        bar.set_postfix_str(f"reading {where}")
        sizes = {split: len(open_records(cfg.data, split)) for split in ("train", "validation")}
        bar.update(2)
        bar.set_postfix_str("tokenizer")
        tokenizer = load_tokenizer(cfg, progress=lambda texts: tqdm(texts, desc="tokenizer text", unit=" sent",
                                                                     leave=False))
        bar.update(1)
        bar.set_postfix_str("first batch")
        loader = make_loader(cfg, "train", process_index=0, process_count=1, tokenizer=tokenizer)
        batch = next(loader)
        loader.close()
        bar.update(1)
    print(f"data: {where}, {sizes['train']:,} train / {sizes['validation']:,} validation records "
          f"(cache {cache_dir()})")
    kind = "given" if cfg.data.tokenizer_path else cfg.data.tokenizer
    print(f"tokenizer: {tokenizer.path} ({kind}, {tokenizer.vocab_size:,} ids with {len(tokenizer.sentinel_ids)} "
          f"sentinels; model rows {cfg.model.vocab_size:,})")
    shapes = ", ".join(f"{key} {tuple(value.shape)}" for key, value in batch.items())
    print(f"{cfg.data.objective} batch: {shapes}")
    print(f"example: {tokenizer.decode(batch['inputs'][0])[:160]!r}")
    return 0
