"""What a trained model does on text it never trained on, beside a unigram baseline.

    print_held_out_report(cfg, model, tokenizer)     # after `jaxlm train`: numbers, then a few examples

Numbers: every target the objective scores in the validation split (the masked tokens of
mlm_nsp, the next tokens of causal_lm, the dropped spans of span_corruption) is predicted by the
model and by a unigram baseline that always answers with the train split's token frequencies:

    loss  = mean −log p(target)         (the baseline's p: add-one smoothed train-target counts)
    top-k = share of targets among the k most likely tokens (the baseline's: the k most frequent)

A model that only learned the frequencies scores like the baseline; the gap is what it learned
from context. Examples are held-out sentences: a masked whole word with the encoder's top-5
beside the answer, a decoder's greedy continuation beside the real one, or an encoder–decoder's
fill of one dropped span beside the real span. Tokens are shown decoded, never as raw pieces.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxlm.config import Config
from jaxlm.data import Tokenizer, open_records
from jaxlm.data.text import sentences
from jaxlm.infer.fill_mask import readable
from jaxlm.infer.generate import generate
from jaxlm.objectives import get_objective, make_loader

# Where each objective's scored predictions are: (logits output, targets key, weights key).
SCORED = {
    "mlm_nsp": ("mlm_logits", "mlm_targets", "mlm_weights"),
    "causal_lm": ("logits", "targets", "weights"),
    "span_corruption": ("logits", "targets", "weights"),
    "seq2seq": ("logits", "targets", "weights"),
}
TOP_K = 5
BASELINE_BATCHES = 200  # train batches whose targets the unigram baseline counts
MAX_BATCHES = 32  # validation batches scored
LONGEST_EXAMPLE = 40  # tokens in an example sentence, at most


@dataclasses.dataclass(frozen=True)
class Score:
    """Mean loss (nats) and top-1 / top-5 hit rates over held-out targets."""

    loss: float
    top1: float
    top5: float


def _targets(cfg: Config, batch: dict) -> tuple[np.ndarray, np.ndarray]:
    _, targets, weights = SCORED[cfg.data.objective]
    return batch[targets], batch[weights] > 0


def unigram_counts(cfg: Config, tokenizer: Tokenizer) -> np.ndarray:
    """[V] counts of the scored targets in the first BASELINE_BATCHES train batches."""
    counts = np.zeros(cfg.model.vocab_size, np.int64)
    loader = make_loader(cfg, "train", process_index=0, process_count=1, tokenizer=tokenizer)
    try:
        for batch in itertools.islice(loader, BASELINE_BATCHES):
            targets, scored = _targets(cfg, batch)
            counts += np.bincount(targets[scored], minlength=len(counts))
    finally:
        loader.close()
    return counts


@nnx.jit(static_argnames="objective")
def _predict(model: nnx.Module, batch: dict, objective: str) -> tuple[jax.Array, jax.Array]:
    """(−log p(target) [b, n], the model's TOP_K token ids [b, n, TOP_K]) at the scored slots."""
    logits_key, targets_key, _ = SCORED[objective]
    logits = get_objective(objective).forward(model, batch, True)[logits_key].astype(jnp.float32)
    log_probs = jax.nn.log_softmax(logits)
    nll = -jnp.take_along_axis(log_probs, batch[targets_key][..., None], axis=-1)[..., 0]
    return nll, jax.lax.top_k(logits, TOP_K)[1]


def score_held_out(cfg: Config, model: nnx.Module, tokenizer: Tokenizer, counts: np.ndarray) -> tuple[Score, Score]:
    """(model, unigram baseline) over the scored targets of up to MAX_BATCHES validation batches."""
    baseline_nll = -np.log((counts + 1) / (counts.sum() + len(counts)))
    frequent = np.argsort(-counts, kind="stable")[:TOP_K]
    columns: dict[str, list[np.ndarray]] = {key: [] for key in ("nll", "hits", "base_nll", "base_hits")}
    loader = make_loader(cfg, "validation", process_index=0, process_count=1, tokenizer=tokenizer)
    try:
        for batch in itertools.islice(loader, MAX_BATCHES):
            nll, best = jax.device_get(_predict(model, batch, cfg.data.objective))
            targets, scored = _targets(cfg, batch)
            target = targets[scored][:, None]  # [n, 1]
            columns["nll"].append(nll[scored])
            columns["hits"].append(best[scored] == target)  # [n, TOP_K]: where the model ranked it
            columns["base_nll"].append(baseline_nll[target[:, 0]])
            columns["base_hits"].append(frequent[None] == target)
    finally:
        loader.close()
    nll, hits, base_nll, base_hits = (np.concatenate(columns[key]) for key in columns)
    return (Score(float(nll.mean()), float(hits[:, 0].mean()), float(hits.any(-1).mean())),
            Score(float(base_nll.mean()), float(base_hits[:, 0].mean()), float(base_hits.any(-1).mean())))


def _held_out_sentences(cfg: Config, tokenizer: Tokenizer, shortest: int) -> Iterator[np.ndarray]:
    """Token ids of validation sentences of `shortest` to LONGEST_EXAMPLE tokens (and room for
    [CLS]/[SEP] within seq_length), in a seeded random order."""
    texts = [s for doc in open_records(cfg.data, "validation") for s in sentences(doc)]
    for index in np.random.default_rng(cfg.data.seed).permutation(len(texts)):
        ids = tokenizer.encode(texts[index])
        if shortest <= len(ids) <= min(LONGEST_EXAMPLE, cfg.data.seq_length - 2):
            yield ids


def _whole_words(ids: np.ndarray, tokenizer: Tokenizer) -> list[int]:
    """Slots of pieces that are a whole alphabetic word of 3+ letters (worth guessing)."""
    starts = tokenizer.word_starts()
    return [
        i for i in range(1, len(ids) - 1)
        if starts[ids[i]] and starts[ids[i + 1]] and len(word := tokenizer.decode([ids[i]])) >= 3 and word.isalpha()
    ]


def _ordinal(rank: int) -> str:
    suffix = "th" if 10 <= rank % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(rank % 10, "th")
    return f"{rank}{suffix}"


def _masked_word_examples(
    cfg: Config, model: nnx.Module, tokenizer: Tokenizer, counts: np.ndarray, count: int
) -> Iterator[str]:
    """A whole word masked in held-out sentences: the model's top-5, and where the model and the
    unigram baseline (`counts`) rank the answer among all V tokens."""
    rng = np.random.default_rng(cfg.data.seed)
    chosen = ((ids, slots) for ids in _held_out_sentences(cfg, tokenizer, 8) if (slots := _whole_words(ids, tokenizer)))
    for ids, slots in itertools.islice(chosen, count):
        slot = int(rng.choice(slots))
        tokens = np.asarray([tokenizer.cls_id, *ids, tokenizer.sep_id], np.int32)
        tokens[slot + 1] = tokenizer.mask_id
        logits = model(jnp.asarray(tokens)[None], token_types=jnp.zeros((1, len(tokens)), jnp.int32),
                       mlm_positions=jnp.asarray([[slot + 1]], jnp.int32))["mlm_logits"][0, 0]
        probabilities = np.asarray(jax.nn.softmax(logits))
        best = np.argsort(-probabilities, kind="stable")[:TOP_K]
        answer = int(ids[slot])
        rank = 1 + int(np.sum(probabilities > probabilities[answer]))
        baseline_rank = 1 + int(np.sum(counts > counts[answer]))
        guesses = " · ".join(f"{readable(tokenizer, int(t))} {probabilities[t]:.0%}" for t in best)
        yield (f"  {tokenizer.decode(ids[:slot])} [MASK] {tokenizer.decode(ids[slot + 1:])}\n"
               f"      model: {guesses}\n"
               f"      answer: {readable(tokenizer, answer)}, the model's {_ordinal(rank)} guess "
               f"(unigram baseline: {_ordinal(baseline_rank)}) {'✓' if rank <= TOP_K else '✗'}")


def _word_starts(ids: np.ndarray, tokenizer: Tokenizer) -> list[int]:
    """Slots where a word begins, and len(ids): the places a text can be cut between words."""
    starts = tokenizer.word_starts()
    return [i for i in range(len(ids)) if starts[ids[i]]] + [len(ids)]


def _guessed(what: str, hits: int, total: int, baseline_hits: int) -> str:
    return f"{what} guessed first: model {hits} of {total}, unigram baseline {baseline_hits}"


def _continuation_examples(
    cfg: Config, model: nnx.Module, tokenizer: Tokenizer, counts: np.ndarray, count: int
) -> Iterator[str]:
    """Held-out sentences cut after 8+ tokens: the model's greedy continuation beside the real
    one, and how many real tokens the model (reading the real text so far) and the unigram
    baseline (`counts`) guess first."""
    new_tokens = 12
    rows = []
    for ids in _held_out_sentences(cfg, tokenizer, 16):
        cut = next(i for i in _word_starts(ids, tokenizer) if i >= 8)  # the prompt ends between words
        if len(ids) - cut >= 4:
            rows.append((ids[:cut], ids[cut:cut + new_tokens]))
        if len(rows) == count:
            break
    bos = [] if tokenizer.bos_id is None else [tokenizer.bos_id]  # as training began documents
    width = max(len(prompt) for prompt, _ in rows) + len(bos)
    prompts = np.full((len(rows), width), cfg.model.pad_id, np.int32)
    for row, (prompt, _) in enumerate(rows):
        prompts[row, : len(prompt) + len(bos)] = [*bos, *prompt]
    lengths = np.asarray([len(prompt) + len(bos) for prompt, _ in rows], np.int32)
    generated = jax.device_get(generate(model, prompts, lengths, max_new_tokens=new_tokens, eos_id=tokenizer.eos_id))
    most_frequent = int(np.argmax(counts))
    for (prompt, real), new in zip(rows, generated, strict=True):
        model_text = tokenizer.decode([int(t) for t in new if t not in (cfg.model.pad_id, tokenizer.eos_id)])
        text = jnp.asarray([[*bos, *prompt, *real]], jnp.int32)
        start = len(bos) + len(prompt) - 1  # the logits there predict the first real token
        guesses = np.argmax(model(text)["logits"][0, start : start + len(real)], axis=-1)
        hits, baseline_hits = int(np.sum(guesses == real)), int(np.sum(real == most_frequent))
        yield (f"  {tokenizer.decode(prompt)} …\n      model: {model_text}\n      real:  {tokenizer.decode(real)}\n"
               f"      {_guessed('next tokens of the real text', hits, len(real), baseline_hits)}")


def _span_examples(
    cfg: Config, model: nnx.Module, tokenizer: Tokenizer, counts: np.ndarray, count: int
) -> Iterator[str]:
    """Held-out sentences with one or two words dropped for <extra_id_0>: the model's greedy fill
    beside the real words, and how many of the real span's tokens the model (reading the real
    span so far) and the unigram baseline (`counts`) guess first."""
    rng = np.random.default_rng(cfg.data.seed)
    rows, spans = [], []
    for ids in _held_out_sentences(cfg, tokenizer, 10):
        cuts = [i for i in _word_starts(ids, tokenizer) if i >= 2]
        if len(cuts) < 4:
            continue
        first = int(rng.integers(0, len(cuts) - 3))
        start, end = cuts[first], cuts[first + int(rng.integers(1, 3))]  # drop one or two words
        rows.append(np.asarray([*ids[:start], tokenizer.sentinel(0), *ids[end:], tokenizer.eos_id], np.int32))
        spans.append((ids, start, end))
        if len(rows) == count:
            break
    width = max(len(row) for row in rows)
    inputs = np.stack([np.pad(row, (0, width - len(row)), constant_values=cfg.model.pad_id) for row in rows])
    lengths = np.asarray([len(row) for row in rows], np.int32)
    generated = jax.device_get(generate(model, inputs, lengths, max_new_tokens=8, eos_id=tokenizer.eos_id))
    ends = {*tokenizer.sentinel_ids, tokenizer.eos_id}
    most_frequent = int(np.argmax(counts))
    for row, (ids, start, end), new in zip(rows, spans, generated, strict=True):
        new = [int(t) for t in new]
        new = new[1:] if new[:1] == [tokenizer.sentinel(0)] else new  # T5 answers '<extra_id_0> span <extra_id_1>'
        fill = itertools.takewhile(lambda t: t not in ends, new)
        span = ids[start:end]
        decoder_inputs = jnp.asarray([[model.config.pad_id, tokenizer.sentinel(0), *span[:-1]]], jnp.int32)
        guesses = np.argmax(model(jnp.asarray(row)[None], decoder_inputs)["logits"][0, 1:], axis=-1)
        hits, baseline_hits = int(np.sum(guesses == span)), int(np.sum(span == most_frequent))
        yield (f"  {tokenizer.decode(ids[:start])} ___ {tokenizer.decode(ids[end:])}\n"
               f"      model: {tokenizer.decode(fill)}   real: {tokenizer.decode(span)}\n"
               f"      {_guessed('tokens of the real span', hits, len(span), baseline_hits)}")


# (cfg, model, tokenizer, unigram counts, how many) -> the lines of that many held-out examples.
EXAMPLES = {"mlm_nsp": _masked_word_examples, "causal_lm": _continuation_examples, "span_corruption": _span_examples}
WHAT = {"mlm_nsp": "masked tokens", "causal_lm": "next tokens", "span_corruption": "tokens of dropped spans",
        "seq2seq": "target tokens"}


def print_held_out_report(
    cfg: Config, model: nnx.Module, tokenizer: Tokenizer, console: Callable[[str], None] = print
) -> tuple[Score, Score] | None:
    """Model vs unigram baseline on the validation split (tokenized by the run's `tokenizer`), then
    `cfg.train.examples` held-out examples. Returns the (model, baseline) scores; None for an
    objective without token targets."""
    if cfg.data.objective not in SCORED:
        return None
    counts = unigram_counts(cfg, tokenizer)
    trained, baseline = score_held_out(cfg, model, tokenizer, counts)
    console(f"held-out {WHAT[cfg.data.objective]} (validation text, never trained on):")
    for name, score in (("model", trained), ("unigram baseline", baseline)):
        console(f"  {name:<17} loss {score.loss:.2f}   top-1 {score.top1:6.1%}   top-5 {score.top5:6.1%}")
    if cfg.train.examples and cfg.data.objective in EXAMPLES:
        console("held-out examples:")
        for line in EXAMPLES[cfg.data.objective](cfg, model, tokenizer, counts, cfg.train.examples):
            console(line)
    return trained, baseline
