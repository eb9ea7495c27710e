"""Inference: KV-cache decoding, sampling, beam search, fill-mask."""
