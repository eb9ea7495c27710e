"""The objectives that call the model with `packed=False` get rows of one document each, padded at
the end: what lets the fused attention cores take sequence lengths instead of a dense mask."""

import numpy as np
import pytest

from jaxlm.config import load_config
from jaxlm.data import make_loader

SMALL = ["data.seq_length=32", "data.batch_size=8", "data.target_length=12"]


def one_document_then_padding(segments: np.ndarray) -> bool:
    lengths = (segments != 0).sum(axis=1)
    return np.array_equal(segments, (np.arange(segments.shape[1]) < lengths[:, None]).astype(segments.dtype))


@pytest.mark.parametrize("preset", ["bert_tiny", "t5_tiny"])
def test_unpacked_objectives_build_one_document_per_row(preset):
    loader = make_loader(load_config(preset, SMALL), "train")
    try:
        for _ in range(3):
            batch = next(loader)
            for key in ("segments", "decoder_segments"):
                if key in batch:
                    assert one_document_then_padding(batch[key]), (key, batch[key])
    finally:
        loader.close()
    assert not one_document_then_padding(np.array([[1, 1, 2, 0]]))  # a packed row is told apart
