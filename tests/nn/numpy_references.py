"""Plain-numpy float64 references the engine is checked against (written from the equations,
sharing no code with jaxlm)."""

from __future__ import annotations

import math

import numpy as np


def allowed(query_segments, key_segments, *, causal, query_offset=0):
    """[b, lq, lk] bool: key j is visible to query i (same non-zero segment; j <= i if causal)."""
    b, lq = query_segments.shape
    lk = key_segments.shape[1]
    out = np.zeros((b, lq, lk), bool)
    for n in range(b):
        for i in range(lq):
            for j in range(lk):
                ok = key_segments[n, j] != 0 and query_segments[n, i] == key_segments[n, j]
                if causal:
                    ok = ok and j <= query_offset + i
                out[n, i, j] = ok
    return out


def attention(q, k, v, visible, bias=None, scale=1.0):
    """softmax over visible keys of scale·q·k + bias, times v. q: [b, lq, h, d], visible: [b, lq, lk].

    Returns (out [b, lq, h, d], weights [b, h, lq, lk]); rows with no visible key are NaN.
    """
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) * scale
    if bias is not None:
        scores = scores + np.asarray(bias, np.float64)
    scores = np.where(visible[:, None], scores, -np.inf)
    with np.errstate(invalid="ignore"):
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights = weights / weights.sum(-1, keepdims=True)
    return np.einsum("bhqk,bkhd->bqhd", weights, v), weights


def layer_norm(x, scale, bias, eps):
    x = np.asarray(x, np.float64)
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale + bias


def rms_norm(x, scale, eps):
    x = np.asarray(x, np.float64)
    return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps) * scale


def t5_bucket(relative_position: int, *, bidirectional: bool, num_buckets: int, max_distance: int) -> int:
    """T5 (Raffel et al. 2020, §2.1): each offset key − query maps to one of `num_buckets`
    buckets. Bidirectional: half the buckets for keys after the query, half for keys at or
    before it; causal: keys after the query all share bucket 0. Within a half, the first half of
    the buckets hold one exact distance each, the rest cover distances up to `max_distance`
    in logarithmically growing ranges, and anything farther lands in the last bucket."""
    bucket = 0
    if bidirectional:
        num_buckets //= 2
        if relative_position > 0:
            bucket += num_buckets
        distance = abs(relative_position)
    else:
        distance = max(-relative_position, 0)
    exact = num_buckets // 2
    if distance < exact:
        return bucket + distance
    log_bucket = exact + int(math.log(distance / exact) / math.log(max_distance / exact) * (num_buckets - exact))
    return bucket + min(log_bucket, num_buckets - 1)
