"""Hugging Face weights in and out: BERT, GPT-2 and T5 (v1.0 and v1.1). See docs/interop.md.

torch, transformers and safetensors are imported only when a conversion runs.
"""

from jaxlm.interop.convert import from_hf, from_state_dict, to_hf_config, to_state_dict
from jaxlm.interop.io import load_hf_folder, read_hf_folder, save_hf_folder, to_hf

__all__ = ["from_hf", "from_state_dict", "load_hf_folder", "read_hf_folder", "save_hf_folder", "to_hf",
           "to_hf_config", "to_state_dict"]
