"""Text sources, tokenizers and the per-process grain loader.

`load_tokenizer(cfg)` (pipeline.py) and the loader's stages (loader.py) are the entry points; a
config's loader is `jaxlm.objectives.make_loader`, which plugs its objective's `Examples` in.
`open_tokenizer(path)`, `save_tokenizer(tokenizer, folder)` and `folder_tokenizer(folder)` read and
keep tokenizer files (tokenizer_files.py).
tensorflow_datasets is imported only where a TFDS source is used.
"""

from jaxlm.data.loader import Examples, Loader, flatten, train_batches, validation_batches
from jaxlm.data.pipeline import load_tokenizer
from jaxlm.data.sources import cache_dir, open_records
from jaxlm.data.tokenizer import Tokenizer
from jaxlm.data.tokenizer_files import folder_tokenizer, open_tokenizer, save_tokenizer

__all__ = [
    "Examples", "Loader", "Tokenizer", "cache_dir", "flatten", "folder_tokenizer", "load_tokenizer", "open_records",
    "open_tokenizer", "save_tokenizer", "train_batches", "validation_batches",
]
