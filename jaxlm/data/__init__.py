"""Text sources, the sentencepiece tokenizer, packing and the per-process loader.

`load_tokenizer(cfg)` and `make_loader(cfg, split, ...)` are the entry points (see pipeline.py).
tensorflow_datasets is imported only where a TFDS source is used.
"""

from jaxlm.data.loader import Loader
from jaxlm.data.pipeline import load_tokenizer, make_loader
from jaxlm.data.sources import cache_dir, open_records
from jaxlm.data.tokenizer import Tokenizer

__all__ = ["Loader", "Tokenizer", "cache_dir", "load_tokenizer", "make_loader", "open_records"]
