#!/usr/bin/env bash
# The GPU checks of issue #11 as one command, for one call of a lent H100/H200 (about 7 minutes):
#
#     bash benchmarks/gpu_checks.sh          # tables under $OUT (the device tool's), else benchmarks/results/gpu/
#
#   smoke.txt             a 2-layer model, every row (stops the script when jaxlm cannot run there)
#   attention.txt         the fused cores exactly as the model calls them (one document per row: is_causal and
#                         lengths; packed rows: the dense mask), [8,1024,12,64] and [4,4096,12,64], bf16
#   train_step_small.txt  gpt2_small at batch 8 x 1024: float32, bfloat16 / xla, bfloat16 / cudnn, each beside
#                         transformers' GPT-2 in interleaved rounds (targets: >= 45 % MFU, >= 1.3x transformers)
#   train_step_medium.txt a GPT-2-medium-shaped decoder (24 x 1024, 16 heads) in bfloat16 (target: >= 55 % MFU)
#   init_compile.txt      the sharded initialiser's compile time at 2 and 24 scanned layers (CPU: 1.5x)
#
# Each step has its own time limit, so one that runs long still leaves the others' tables. Needs no grain,
# TFDS or tokenizer (the GPU image has none of them installed); jaxlm runs from this checkout.
set -u
out=${OUT:-benchmarks/results/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
py=$(command -v python3 || command -v python)

step() {  # step NAME SECONDS ARGS...: run one benchmark, its output (and errors) in $out/NAME.txt
    local name=$1 limit=$2
    shift 2
    echo "== $name (at most ${limit} s): $*"
    timeout "$limit" "$py" "$@" 2>&1 | tee "$out/$name.txt"
    echo "== $name: exit ${PIPESTATUS[0]}"
}

{ nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv 2>&1
  "$py" -c "import jax, jaxlib, flax; print('jax', jax.__version__, 'jaxlib', jaxlib.__version__, 'flax', flax.__version__, jax.devices())"
} | tee "$out/device.txt"
# A tiny model first (seconds): if jaxlm cannot run on this image (e.g. its flax is older than jaxlm needs:
# carry a wheel as the device README says), stop here instead of spending minutes on rows that all fail.
step smoke 90 benchmarks/train_step.py --batch 2 --length 64 --steps 1 --rounds 1 \
    model.num_layers=2 model.d_model=64 model.num_heads=2 model.d_ff=128
grep -q "^float32 / xla" "$out/smoke.txt" || { echo "== smoke failed: see $out/smoke.txt; nothing else run"; exit 1; }
step attention 60 benchmarks/attention.py --batch 8 --length 1024
step attention_4096 60 benchmarks/attention.py --batch 4 --length 4096
step train_step_small 240 benchmarks/train_step.py --peer hf --batch 8 --length 1024 --steps 10 --rounds 3
step train_step_medium 150 benchmarks/train_step.py --batch 8 --length 1024 --steps 5 --rounds 3 \
    model.num_layers=24 model.d_model=1024 model.num_heads=16 model.d_ff=4096 model.scan_layers=true \
    --only "bfloat16 / xla" "bfloat16 / cudnn"  # --only last: it would take the overrides as setting names
step init_compile 60 benchmarks/init_compile.py --depths 2 24 --unrolled-depths
