"""The TODM supernet: an MH-SSM RNN-T transducer whose encoder depth and widths are elastic.

TODM (Shangguan et al. 2023, arXiv 2309.01947) trains one weight-sharing RNN-T supernet whose encoder is an
MH-SSM stack (Fathullah et al., Interspeech 2023, arXiv 2305.12498); subnets keep fewer layers and narrower
layers. Where each piece lives, and the choices made where the papers are silent:
  config.py      SupernetConfig / SubnetConfig / LayerChoice, validation, sampling, extract_config.
                 Depth: sorted kept-layer indices (any subset, or prefixes with depth_mode="prefix");
                 per kept layer: ffn_dim and ssm_heads (head dim fixed). d_model, front end, decoder and
                 joiner are shared. The smallest subnet keeps min_layers evenly spaced layers.
  ssm.py         MH-SSM layer: S4D diagonal SSM per channel, per-head dt bands (local..global), bidirectional
                 forward+backward kernels (or causal), inter-head gating in head pairs, FFT and ONNX paths.
  encoder.py     Conv2d subsampling (T' = ((T-1)//2 - 1)//2, 7 frames of look-ahead even when causal) and
                 pre-norm blocks: MH-SSM then one SiLU feed-forward (not macaron), final LayerNorm.
  transducer.py  icefall stateless decoder, joiner (project_input), simple_am/lm_proj, optional CTC head;
                 Transducer.forward_encoder(features, lens, subnet, dropout) and Transducer.extract(subnet).
  cost.py        analytic num_params (exact) and encoder MACs.
  presets.py     cpu_small and librispeech.
"""

from .config import (
    LayerChoice,
    SubnetConfig,
    SupernetConfig,
    extract_config,
    largest,
    read_subnet_file,
    sample_subnet,
    smallest,
)
from .cost import encoder_frames, macs, num_params, param_breakdown
from .presets import PRESETS, cpu_medium, cpu_small, get_preset, librispeech, tiny
from .transducer import Decoder, Joiner, Transducer

__all__ = [
    "PRESETS",
    "Decoder",
    "Joiner",
    "LayerChoice",
    "SubnetConfig",
    "SupernetConfig",
    "Transducer",
    "cpu_medium",
    "cpu_small",
    "encoder_frames",
    "extract_config",
    "get_preset",
    "largest",
    "librispeech",
    "macs",
    "num_params",
    "param_breakdown",
    "read_subnet_file",
    "sample_subnet",
    "smallest",
    "tiny",
]
