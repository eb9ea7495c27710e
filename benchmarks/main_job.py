"""The main job of each tiny preset, as `jaxlm train PRESET` runs it, and what it buys.

    python benchmarks/main_job.py [--presets bert_tiny,gpt2_tiny,t5_tiny] [key=value ...]

Each preset trains from scratch in a fresh temporary workdir (the tokenizer cache is the user's),
then prints the held-out report that `jaxlm train` prints (`jaxlm/infer/held_out.py`: the model
and a unigram baseline scored on the validation split, and held-out examples). At the end, one
row per preset: wall and CPU time of training (startup,
compile, steps, evals and checkpoints; not the report), the training loss at the first and last step, the
final eval loss, and held-out loss / top-1 / top-5 for the model and the baseline. The first line
names the machine and its load average before and after, since on a shared machine the time
column moves with the load while the loss columns do not.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    name = platform.processor() or platform.machine()
    return f"{cores}-core CPU ({name}, {platform.system()})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="bert_tiny,gpt2_tiny,t5_tiny", help="comma-separated preset names")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="applied to every preset")
    args = parser.parse_args()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

    from jaxlm.config import load_config
    from jaxlm.infer.held_out import print_held_out_report
    from jaxlm.train.loop import train
    from jaxlm.train.run_folder import run_tokenizer

    load_before = os.getloadavg()[0]
    rows = []
    for preset in args.presets.split(","):
        with tempfile.TemporaryDirectory() as workdir:
            cfg = load_config(preset, [*args.overrides, f"workdir={workdir}"])
            started, cpu_started = time.perf_counter(), time.process_time()
            result = train(cfg, progress=False, console=lambda _: None)
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
            first_loss, last_loss = result.losses[min(result.losses)], result.losses[max(result.losses)]
            print(f"--- {preset}: train loss {first_loss:.2f} → {last_loss:.2f}, {seconds:.0f} s "
                  f"({cpu_seconds:.0f} s of CPU time)", flush=True)
            model, baseline = print_held_out_report(cfg, result.session.model(), run_tokenizer(cfg, result.workdir))
        rows.append((preset, cfg.train.steps, seconds, cpu_seconds, first_loss, last_loss,
                     result.eval_metrics.get("loss", float("nan")), model, baseline))
    print(f"machine: {machine()}, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"overrides: {' '.join(args.overrides) or 'none'}")
    print(f"{'preset':<10} {'steps':>6} {'time s':>7} {'cpu s':>6} {'train loss':>14} {'eval':>6}   "
          f"{'held-out: model loss  top-1  top-5':>34}   {'unigram loss  top-1  top-5':>27}")
    for preset, steps, seconds, cpu_seconds, first_loss, last_loss, eval_loss, model, baseline in rows:
        print(f"{preset:<10} {steps:>6} {seconds:>7.0f} {cpu_seconds:>6.0f} "
              f"{first_loss:>6.2f} → {last_loss:<5.2f} {eval_loss:>6.2f}   "
              f"{model.loss:>21.2f} {model.top1:>6.1%} {model.top5:>6.1%}   "
              f"{baseline.loss:>14.2f} {baseline.top1:>6.1%} {baseline.top5:>6.1%}")


if __name__ == "__main__":
    main()
