"""Device budgets (profiles) and the costs they bound: parameters, MACs, latency, model size.

Costs of a subnet (all of the *deployed* model: `Transducer.extract(subnet)` without the training-only heads
simple_am_proj / simple_lm_proj / ctc_output):
  params       exact parameter count (todm.model.num_params(..., include_training_heads=False)).
  macs         encoder multiply-adds per second of audio, counted (todm.model.macs) on a REFERENCE_SECONDS
               utterance and divided by its length (the deployed graph is linear in T up to whole chunks of
               32 frames, so the per-second figure barely depends on the length).
  model_mb     size in MB (1e6 bytes) of the exported bundle (encoder + decoder + joiner ONNX), fp32 and int8:
               weight bytes (fp32: 4 per parameter; int8: 1 per MatMul weight, as the export's dynamic
               quantization, 4 for everything else: biases, norms, embeddings, convolutions, SSM parameters)
               plus the graph's own bytes (nodes, quantization ops), which grow with the number of layers and
               are measured by exporting two subnets (BundleSize.measure); without that measurement, the
               weight bytes alone (an underestimate).
  latency_ms   measured: milliseconds of encoder + greedy search per second of audio, on this machine, one
               torch thread, `warmup` untimed runs then the median of `repeats` timed runs (LatencyMeter).
A profile is a named set of upper bounds; any subset of max_params / max_macs / max_latency_ms /
max_model_mb may be given (model_dtype says whether max_model_mb means int8 or fp32), as absolute numbers
('2.5M', '300M', 40) or relative to the supernet ('55%': 55% of the way from the smallest subnet's cost to
the largest's, so one budget file serves every preset and vocabulary size).
"""

from __future__ import annotations

import dataclasses
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from todm.errors import UserError
from todm.model import SubnetConfig, SupernetConfig, Transducer, encoder_frames, macs, num_params

from .space import subnet_key

REFERENCE_SECONDS = 10.0
FRAMES_PER_SECOND = 100  # 10 ms fbank frame shift
BUDGET_KEYS = (
    "max_params",
    "max_macs",
    "max_latency_ms",
    "max_model_mb",
    "max_memory_mb",
    "model_dtype",
    "threads",
)
_COST_OF = {
    "max_params": "params",
    "max_macs": "macs",
    "max_latency_ms": "latency_ms",
    "max_model_mb": "",
    "max_memory_mb": "peak_mb",
}
_SUFFIXES = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def parse_quantity(text: str | float, what: str = "value") -> float:
    """'2.5M' -> 2.5e6, '300M' -> 3e8, '40' -> 40.0, '1e6' -> 1e6. Suffixes k/K, M, G, T (powers of 1000)."""
    if isinstance(text, bool):
        raise UserError(f"{what}: expected a number such as 2.5M, got {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]?)\s*", str(text))
        if m is None or m.group(2) not in _SUFFIXES:
            raise UserError(
                f"{what}: malformed number {text!r} (expected e.g. 2.5M, 300M, 40; suffixes k, M, G, T)"
            )
        value = float(m.group(1)) * _SUFFIXES[m.group(2)]
    if not value > 0:
        raise UserError(f"{what}: must be positive, got {text!r}")
    return value


@dataclass
class Costs:
    params: int
    macs: float  # encoder MACs per second of audio
    model_mb_fp32: float
    model_mb_int8: float
    latency_ms: float | None = None  # per second of audio; None when not measured
    peak_mb: float | None = None  # peak memory of the deployed runtime decoding; None when not measured

    def model_mb(self, dtype: str) -> float:
        return self.model_mb_int8 if dtype == "int8" else self.model_mb_fp32


@dataclass
class Budget:
    """One device profile: upper bounds on the deployed subnet's costs (None = unbounded)."""

    name: str
    max_params: float | None = None
    max_macs: float | None = None
    max_latency_ms: float | None = None
    max_model_mb: float | None = None
    max_memory_mb: float | None = None
    model_dtype: str = "fp32"
    relative: dict[str, float] = field(default_factory=dict)  # key -> fraction, resolved by `resolve`
    threads: int | None = None  # the device's threads for latency and memory; None: the search's default

    def __post_init__(self) -> None:
        if self.model_dtype not in ("int8", "fp32"):
            raise UserError(
                f"profile {self.name!r}: model_dtype must be int8 or fp32, got {self.model_dtype!r}"
            )
        if self.threads is not None and (self.threads != int(self.threads) or self.threads < 1):
            raise UserError(
                f"profile {self.name!r}: threads must be a whole number >= 1, got {self.threads!r}"
            )
        if self.threads is not None:
            self.threads = int(self.threads)
        if not self.relative and not any(v is not None for v in self.bounds().values()):
            raise UserError(f"profile {self.name!r}: no budget given (use {', '.join(BUDGET_KEYS[:4])})")

    def resolve(self, small: Costs, large: Costs) -> Budget:
        """Turn relative bounds ('55%': 55% of the way from the smallest to the largest subnet) into numbers."""
        values = {}
        for key, frac in self.relative.items():
            lo, hi = (
                getattr(c, _COST_OF[key]) if key != "max_model_mb" else c.model_mb(self.model_dtype)
                for c in (small, large)
            )
            if key in ("max_latency_ms", "max_memory_mb") and (lo is None or hi is None):
                raise ValueError("relative latency and memory budgets need measured latencies")
            values[key] = lo + frac * (hi - lo)
        return dataclasses.replace(self, **values, relative={})

    def bounds(self) -> dict[str, float | None]:
        return {
            "max_params": self.max_params,
            "max_macs": self.max_macs,
            "max_latency_ms": self.max_latency_ms,
            "max_model_mb": self.max_model_mb,
            "max_memory_mb": self.max_memory_mb,
        }

    @property
    def needs_latency(self) -> bool:
        """Latency and peak memory come from the same measured run of the deployed files."""
        return self.max_latency_ms is not None or self.max_memory_mb is not None

    def violations(self, costs: Costs) -> list[str]:
        """Human-readable list of exceeded bounds (empty: feasible)."""
        out = []
        if self.max_params is not None and costs.params > self.max_params:
            out.append(f"params {costs.params / 1e6:.3f}M > {self.max_params / 1e6:.3f}M")
        if self.max_macs is not None and costs.macs > self.max_macs:
            out.append(f"MACs/s {costs.macs / 1e6:.1f}M > {self.max_macs / 1e6:.1f}M")
        if self.max_model_mb is not None and costs.model_mb(self.model_dtype) > self.max_model_mb:
            out.append(
                f"{self.model_dtype} size {costs.model_mb(self.model_dtype):.2f} MB > {self.max_model_mb:.4g} MB"
            )
        if self.max_latency_ms is not None:
            if costs.latency_ms is None:
                raise ValueError(f"profile {self.name!r} bounds latency but the latency was not measured")
            if costs.latency_ms > self.max_latency_ms:
                out.append(f"latency {costs.latency_ms:.1f} ms/s > {self.max_latency_ms:.4g} ms/s")
        if self.max_memory_mb is not None:
            if costs.peak_mb is None:
                raise ValueError(f"profile {self.name!r} bounds peak memory but it was not measured")
            if costs.peak_mb > self.max_memory_mb:
                out.append(f"peak memory {costs.peak_mb:.1f} MB > {self.max_memory_mb:.4g} MB")
        return out

    def usage(self, costs: Costs) -> float:
        """How much of the budget a subnet spends: the largest cost / bound ratio over the bounded costs."""
        pairs = [
            (costs.params, self.max_params),
            (costs.macs, self.max_macs),
            (costs.model_mb(self.model_dtype), self.max_model_mb),
            (costs.latency_ms, self.max_latency_ms),
            (costs.peak_mb, self.max_memory_mb),
        ]
        return max(
            (cost / bound for cost, bound in pairs if bound is not None and cost is not None), default=0.0
        )

    def describe(self) -> str:
        parts = []
        if self.max_params is not None:
            parts.append(f"params<={self.max_params / 1e6:.3g}M")
        if self.max_macs is not None:
            parts.append(f"MACs/s<={self.max_macs / 1e6:.4g}M")
        if self.max_latency_ms is not None:
            parts.append(f"latency<={self.max_latency_ms:.4g}ms/s")
        if self.max_model_mb is not None:
            parts.append(f"{self.model_dtype}<={self.max_model_mb:.4g}MB")
        if self.max_memory_mb is not None:
            parts.append(f"peak memory<={self.max_memory_mb:.4g}MB")
        if self.threads is not None and self.needs_latency:
            parts.append(f"at {self.threads} thread{'s' if self.threads > 1 else ''}")
        return " ".join(parts)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            **self.bounds(),
            "model_dtype": self.model_dtype,
            "threads": self.threads,
            "relative": self.relative,
        }


def make_budget(name: str, values: dict, where: str = "") -> Budget:
    """A Budget from a mapping of BUDGET_KEYS to strings/numbers ('2.5M'); unknown keys are an error.
    A value 'P%' is relative: P% of the way from the smallest subnet's cost to the largest's."""
    where = where or f"profile {name!r}"
    if not isinstance(values, dict):
        raise UserError(f"{where}: expected a mapping of budgets, got {values!r}")
    unknown = sorted(set(values) - set(BUDGET_KEYS))
    if unknown:
        raise UserError(f"{where}: unknown budget key(s) {unknown}; allowed: {list(BUDGET_KEYS)}")
    kw: dict = {}
    for key, value in values.items():
        if value is None:
            continue
        if key == "model_dtype":
            kw[key] = str(value)
        elif key == "threads":
            if isinstance(value, bool) or not isinstance(value, int):
                raise UserError(f"{where}: threads={value!r}: expected a whole number of threads")
            kw[key] = value
        elif isinstance(value, str) and value.strip().endswith("%"):
            frac = parse_quantity(value.strip()[:-1], f"{where}: {key}") / 100
            if frac > 1:
                raise UserError(
                    f"{where}: {key}={value} is beyond the largest subnet (relative budgets are 0-100%)"
                )
            kw.setdefault("relative", {})[key] = frac
        else:
            kw[key] = parse_quantity(value, f"{where}: {key}")
    return Budget(name, **kw)


def load_profiles(path: str | Path) -> list[Budget]:
    """Read a YAML file `profiles: {name: {max_params: 2.5M, max_macs: 300M, ...}, ...}`."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--budgets {path}: file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"--budgets {path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or set(data) != {"profiles"} or not isinstance(data["profiles"], dict):
        raise UserError(f"--budgets {path}: expected one top-level key 'profiles' mapping names to budgets")
    profiles = []
    for name, values in data["profiles"].items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(name)):
            raise UserError(
                f"--budgets {path}: profile name {name!r} must be [A-Za-z0-9_.-]+ (used in file names)"
            )
        profiles.append(make_budget(str(name), values, f"--budgets {path}: profile {name!r}"))
    if not profiles:
        raise UserError(f"--budgets {path}: no profiles")
    return profiles


def quantizable_weights(cfg: SupernetConfig, subnet: SubnetConfig) -> int:
    """Weights of the deployed subnet's MatMuls: what the export's int8 quantization (MatMul only) shrinks."""
    c3, d = cfg.subsampling_channels[2], cfg.d_model
    f3 = encoder_frames(cfg.feature_dim)  # the front end subsamples freq bins as it does frames
    total = c3 * f3 * d  # the front end's Linear (its convolutions stay fp32)
    for lc in subnet.layers:
        width = lc.ssm_heads * cfg.ssm_head_dim
        total += 2 * d * width + 2 * d * lc.ffn_dim
    total += d * cfg.joiner_dim + cfg.decoder_dim * cfg.joiner_dim + cfg.joiner_dim * cfg.vocab_size
    return total


def weight_bytes(cfg: SupernetConfig, subnet: SubnetConfig) -> tuple[int, int]:
    """Bytes of the deployed weights, (fp32 bundle, int8 bundle)."""
    params, q = num_params(cfg, subnet, include_training_heads=False), quantizable_weights(cfg, subnet)
    return 4 * params, q + 4 * (params - q)


@dataclass(frozen=True)
class BundleSize:
    """Exported bundle bytes = weight bytes + `fixed + per_layer * depth + per_channel * SSM channels`, per dtype
    (fp32, int8). The second part is what weight counts miss: the graph itself (the SSM's chunk scan, the
    quantization ops: nodes per layer) and the SSM tensors the exporter computes from the parameters at export
    time (per channel). `measure` exports three subnets (largest, smallest, the largest's depth at the smallest
    widths) and solves for the three coefficients. Measured on cpu_small: subnets of uniform widths within
    0.1%, mixed widths within 1.2% (fp32) and 3% (int8) below the real files."""

    fixed: tuple[float, float]
    per_layer: tuple[float, float]
    per_channel: tuple[float, float]

    @staticmethod
    def _features(cfg: SupernetConfig, subnet: SubnetConfig) -> list[float]:
        return [1.0, float(subnet.depth), float(sum(lc.ssm_heads * cfg.ssm_head_dim for lc in subnet.layers))]

    @classmethod
    def measure(cls, cfg: SupernetConfig, streaming_chunk: int = 0) -> BundleSize:
        """Fit on exported files: full-utterance bundles, or streaming ones (chunks of `streaming_chunk`
        feature frames) when it is > 0."""
        import tempfile

        from todm.model import LayerChoice, largest, smallest

        torch.manual_seed(0)  # sizes depend on shapes only; any weights do
        model = Transducer(cfg).eval()
        deep = largest(cfg).layers

        def narrowed(ffn: bool, heads: bool) -> SubnetConfig:
            return SubnetConfig(
                [
                    LayerChoice(
                        lc.index,
                        min(cfg.allowed_ffn_dims(lc.index)) if ffn else lc.ffn_dim,
                        min(cfg.allowed_ssm_heads(lc.index)) if heads else lc.ssm_heads,
                    )
                    for lc in deep
                ]
            )

        rows, extra = [], []
        for subnet in (largest(cfg), smallest(cfg), narrowed(True, True)):
            with tempfile.TemporaryDirectory() as tmp:
                files = [mb * 1e6 for mb in bundle_mb(export_bundle(model, subnet, tmp, streaming_chunk))]
            rows.append(cls._features(cfg, subnet))
            extra.append([f - w for f, w in zip(files, weight_bytes(cfg, subnet))])
        # least squares: exact for three independent subnets, the best fit when the space has fewer shapes
        coef = torch.linalg.lstsq(
            torch.tensor(rows, dtype=torch.float64), torch.tensor(extra, dtype=torch.float64)
        )
        fixed, per_layer, per_channel = (tuple(float(v) for v in row) for row in coef.solution)
        return cls(fixed, per_layer, per_channel)

    def mb(self, cfg: SupernetConfig, subnet: SubnetConfig) -> tuple[float, float]:
        """(fp32, int8) bundle MB of `subnet`."""
        features = self._features(cfg, subnet)
        coefs = zip(self.fixed, self.per_layer, self.per_channel)
        return tuple(
            (w + sum(c * x for c, x in zip(coef, features))) / 1e6
            for w, coef in zip(weight_bytes(cfg, subnet), coefs)
        )


def export_bundle(
    model: Transducer, subnet: SubnetConfig, out_dir: str | Path, streaming_chunk: int = 0
) -> tuple[dict[str, Path], dict[str, Path]]:
    """The fp32 and int8 ONNX files export.py ships for `subnet` of `model` (a streaming bundle with chunks of
    `streaming_chunk` feature frames when > 0): ({part: path}, {part: path})."""
    from todm.export.onnx_export import export_onnx, quantize_int8
    from todm.export.streaming_export import export_streaming_onnx

    small = model.extract(subnet).eval()
    if streaming_chunk:
        fp32 = export_streaming_onnx(small, out_dir, streaming_chunk)
    else:
        fp32 = export_onnx(small, out_dir)
    return fp32, quantize_int8(fp32)


def bundle_mb(files: tuple[dict[str, Path], dict[str, Path]]) -> tuple[float, float]:
    """(fp32, int8) MB of export_bundle's files."""
    return tuple(sum(p.stat().st_size for p in paths.values()) / 1e6 for paths in files)


def exported_bundle_mb(
    model: Transducer, subnet: SubnetConfig, streaming_chunk: int = 0
) -> tuple[float, float]:
    """(fp32, int8) MB of the files export.py ships for `subnet` (encoder + decoder + joiner ONNX), measured by
    exporting it: what a size budget is finally checked against."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return bundle_mb(export_bundle(model, subnet, tmp, streaming_chunk))


def static_costs(cfg: SupernetConfig, subnet: SubnetConfig, bundle: BundleSize | None = None) -> Costs:
    """Params, MACs/s and bundle sizes (analytic, instant once `bundle` is measured)."""
    params = num_params(cfg, subnet, include_training_heads=False)
    frames = int(REFERENCE_SECONDS * FRAMES_PER_SECOND)
    fp32_mb, int8_mb = (
        bundle.mb(cfg, subnet) if bundle is not None else (w / 1e6 for w in weight_bytes(cfg, subnet))
    )
    return Costs(
        params=params,
        macs=macs(cfg, subnet, frames) / REFERENCE_SECONDS,
        model_mb_fp32=fp32_mb,
        model_mb_int8=int8_mb,
    )


class LatencyMeter:
    """Encoder + greedy-search time of the extracted subnet per second of audio (ms), one thread, median.

    features: (1, T, feature_dim) of one fixed utterance (the search script takes the dev subset's
    median-length cut). Uses todm.decode.greedy_search, imported when first needed.
    """

    def __init__(
        self,
        model: Transducer,
        features: torch.Tensor,
        warmup: int = 2,
        repeats: int = 5,
        num_threads: int = 1,
        unk_id: int | None = None,
    ) -> None:
        if features.dim() != 3 or features.size(0) != 1:
            raise ValueError(f"LatencyMeter wants features of shape (1, T, F), got {tuple(features.shape)}")
        self.model, self.features = model, features
        self.lens = torch.tensor([features.size(1)], dtype=torch.int64)
        self.seconds = features.size(1) / FRAMES_PER_SECOND
        self.warmup, self.repeats, self.num_threads, self.unk_id = warmup, repeats, num_threads, unk_id

    @torch.no_grad()
    def __call__(self, subnet: SubnetConfig, threads: int | None = None) -> float:
        from todm.decode import greedy_search

        small = self.model.extract(subnet).eval()
        previous = torch.get_num_threads()
        torch.set_num_threads(threads or self.num_threads)
        try:
            times = []
            for i in range(self.warmup + self.repeats):
                start = time.perf_counter()
                enc, enc_lens = small.forward_encoder(self.features, self.lens)
                greedy_search(small, enc, enc_lens, unk_id=self.unk_id)
                if i >= self.warmup:
                    times.append(time.perf_counter() - start)
        finally:
            torch.set_num_threads(previous)
        return 1000.0 * statistics.median(times) / self.seconds


class DeployedMeter:
    """Latency and peak memory of what ships: the subnet exported (ONNX, int8 by default) and decoded by
    sherpa-onnx from the waveform (its front end and greedy search), in a fresh process, at `num_threads`.

    Latency: ms per second of audio of one fixed utterance, median of `repeats` runs after `warmup`; peak
    memory: what building the recognizer and decoding add to the process (todm.export.bundle_eval).
    streaming_chunk > 0: the streaming bundle (todm.export.streaming_export) with chunks of that many feature
    frames, in sherpa-onnx's OnlineRecognizer."""

    def __init__(
        self,
        model: Transducer,
        wave,
        tokens: str | Path,
        warmup: int = 2,
        repeats: int = 5,
        num_threads: int = 1,
        int8: bool = True,
        streaming_chunk: int = 0,
    ) -> None:
        if streaming_chunk and not model.cfg.causal:
            raise UserError("--decode-chunk-len: the supernet is not causal, its subnets cannot stream")
        self.model, self.wave, self.tokens = model, wave, Path(tokens)
        self.streaming_chunk = streaming_chunk
        self.exported_mb: dict[str, tuple[float, float]] = {}  # what __call__ exported, by subnet key
        self.seconds = len(wave) / 16000
        self.warmup, self.repeats, self.num_threads, self.int8 = warmup, repeats, num_threads, int8

    def __call__(self, subnet: SubnetConfig, threads: int | None = None) -> tuple[float, float]:
        import shutil
        import tempfile

        from todm.export.bundle_eval import sherpa_transcribe

        with tempfile.TemporaryDirectory() as tmp:
            files = export_bundle(self.model, subnet, tmp, self.streaming_chunk)
            self.exported_mb[subnet_key(subnet)] = bundle_mb(files)
            shutil.copyfile(self.tokens, Path(tmp) / "tokens.txt")
            got = sherpa_transcribe(
                tmp, [self.wave] * (self.warmup + self.repeats), self.int8, threads or self.num_threads
            )
        return 1000.0 * statistics.median(got["each"][self.warmup :]) / self.seconds, float(got["peak_mb"])

    def bundle_mb(self, subnet: SubnetConfig) -> tuple[float, float]:
        """(fp32, int8) MB of the subnet's shipped files: those this meter exported, else exported now."""
        key = subnet_key(subnet)
        if key not in self.exported_mb:
            self.exported_mb[key] = exported_bundle_mb(self.model, subnet, self.streaming_chunk)
        return self.exported_mb[key]
