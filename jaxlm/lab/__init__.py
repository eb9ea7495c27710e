"""The sharding lab behind `jaxlm bench`: compile the real train step per strategy × mesh, measure
what the compiler produced, predict the same figures from the rule table, compare.

    hardware.py  named accelerator profiles (peak FLOP/s, HBM, links) with their sources
    batch.py     a config's batch as shapes (to compile) or random values (to run)
    measure.py   compile the train step (or ∇loss alone) on abstract inputs; memory, FLOPs, HLO; run it
    bubble.py    the pipeline bubble, from compiled FLOPs and step time against microbatches
    hlo.py       every collective of the compiled HLO, with bytes per device per step
    layout.py    the rule table applied to one model on one mesh: shards and token counts
    memory.py    predicted bytes per device (parameters, AdamW, gradients, activations)
    traffic.py   predicted collectives per step, by mechanism
    roofline.py  predicted step time, bound regime and MFU on named hardware
    sweep.py     strategies × meshes: compile, predict, compare, run interleaved
    report.py    bench.md and bench.json;  plots.py  the PNGs (matplotlib, imported lazily)
"""
