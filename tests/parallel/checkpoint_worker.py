"""One process of a multi-process `jaxlm train`, counting the train records its loader reads.

    python checkpoint_worker.py READS_FILE train CONFIG key=value ... --coordinator ... --process-id I

Writes {"reads": N} to READS_FILE when the command returns, and exits with its code.
"""

from __future__ import annotations

import importlib
import json
import pathlib
import sys

from jaxlm.cli import main
from jaxlm.objectives import make_loader

reads = {"reads": 0}


class CountingRecords:
    """A record source that counts every record read."""

    def __init__(self, records):
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index):
        reads["reads"] += 1
        return self.records[index]


held_out = importlib.import_module("jaxlm.infer.held_out")
report_baseline = held_out.unigram_counts


def uncounted_baseline(*args, **kwargs):
    """The held-out report's unigram baseline reads train records after training: not the stream under test."""
    before = reads["reads"]
    counts = report_baseline(*args, **kwargs)
    reads["reads"] = before
    return counts


held_out.unigram_counts = uncounted_baseline
loader_module = sys.modules[make_loader.__module__]  # where make_loader looks up open_records
open_records = loader_module.open_records
loader_module.open_records = lambda cfg, split: (
    CountingRecords(open_records(cfg, split)) if split == "train" else open_records(cfg, split))

if __name__ == "__main__":
    code = main(sys.argv[2:])
    pathlib.Path(sys.argv[1]).write_text(json.dumps(reads))
    sys.exit(code)
