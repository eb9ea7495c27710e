"""Test-wide set-up: 8 host CPU devices so sharding runs for real, set before JAX starts."""

import os

# The suite compiles far more than it runs: LLVM's expensive passes cost a fifth of its CPU time
# and buy nothing at these sizes.
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0"
    " --xla_llvm_disable_expensive_passes=true",
)
os.environ.setdefault("JAX_PLATFORMS", "cpu")
