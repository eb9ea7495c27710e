"""Text sources, tokenizers, packing and the per-process loader.

`load_tokenizer(cfg)` and `make_loader(cfg, split, ...)` are the entry points (see pipeline.py);
`open_tokenizer(path)`, `save_tokenizer(tokenizer, folder)` and `folder_tokenizer(folder)` read and
keep tokenizer files (tokenizer_files.py).
tensorflow_datasets is imported only where a TFDS source is used.
"""

from jaxlm.data.loader import Loader
from jaxlm.data.pipeline import load_tokenizer, make_loader
from jaxlm.data.sources import cache_dir, open_records
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.data.tokenizer_files import folder_tokenizer, open_tokenizer, save_tokenizer

__all__ = ["Loader", "Tokenizer", "cache_dir", "folder_tokenizer", "load_tokenizer", "make_loader", "open_records",
           "open_tokenizer", "save_tokenizer"]
