"""Running an exported model: onnxruntime directly (our search code) and sherpa-onnx (its own search).

`OnnxTransducer` implements todm.decode.search.TransducerSteps on top of the three onnxruntime sessions,
so greedy_search / modified_beam_search decode it exactly as they decode the PyTorch model (icefall's
onnx_pretrained.py does the same with its own loop); `OnnxStreamingTransducer` does the same for a streaming
bundle (todm.export.streaming_export), its encoder fed chunk by chunk with the states carried.
`open_onnx_transducer` and `sherpa_recognizer` pick the kind from the encoder's metadata. Features come from todm.data.features.knf_fbank,
the kaldi-native-fbank front end that sherpa-onnx itself uses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from todm.errors import UserError

from .onnx_export import ONNX_PARTS, read_meta_data

# Silence appended to a stream before input_finished(): sherpa-onnx decodes a chunk only once the frames after
# it have arrived and pads nothing itself (its own examples append 0.5 s the same way). At least this much; a
# bundle with longer chunks gets a chunk and its look-ahead (stream_tail_seconds).
STREAM_TAIL_SECONDS = 0.5


def model_files(model_dir: str | Path, int8: bool = False) -> dict[str, Path]:
    """{encoder, decoder, joiner, tokens} paths of an export directory, checked to exist."""
    model_dir = Path(model_dir)
    suffix = ".int8.onnx" if int8 else ".onnx"
    files = {part: model_dir / f"{part}{suffix}" for part in ONNX_PARTS}
    files["tokens"] = model_dir / "tokens.txt"
    for name, path in files.items():
        if not path.is_file():
            raise UserError(
                f"{path}: missing ({name}); run export.py" + (" (int8 files: --int8 true)" if int8 else "")
            )
    return files


def is_streaming_bundle(model_dir: str | Path, int8: bool = False) -> bool:
    """Whether the bundle's encoder is a streaming one (its metadata says streaming=true)."""
    return read_meta_data(model_files(model_dir, int8)["encoder"]).get("streaming") == "true"


def stream_tail_seconds(model_dir: str | Path, int8: bool = False) -> float:
    """Silence that lets sherpa-onnx decode a streaming bundle's last words: more than one window (a chunk
    and its look-ahead, T frames of 10 ms) past the end, and at least STREAM_TAIL_SECONDS; 0.0 for a
    full-utterance bundle (one read of the encoder's metadata says both)."""
    meta = read_meta_data(model_files(model_dir, int8)["encoder"])
    if meta.get("streaming") != "true":
        return 0.0
    return max(STREAM_TAIL_SECONDS, (int(meta["T"]) + 1) / 100)


def read_tokens(path: str | Path) -> list[str]:
    """tokens.txt ("<piece> <id>" lines) -> pieces by id; checks ids are 0..V-1 and blank is 0."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: tokens.txt not found")
    table: dict[int, str] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise UserError(f"{path}:{n}: expected '<piece> <id>', got {line!r}")
        table[int(parts[1])] = parts[0]
    if sorted(table) != list(range(len(table))):
        raise UserError(f"{path}: ids are not 0..{len(table) - 1}")
    return [table[i] for i in range(len(table))]


def check_bundle_tokens(model_dir: str | Path, pieces: list[str]) -> None:
    """tokens.txt must be the vocabulary the bundle was exported with (its model_card.json records size and
    fingerprint): another BPE model's tokens.txt, even of the same size, would print wrong words."""
    import json

    from todm.data.bpe import vocabulary_fingerprint

    card_path = Path(model_dir) / "model_card.json"
    if not card_path.is_file():
        return  # a bundle from elsewhere: nothing to compare with
    decoding = json.loads(card_path.read_text()).get("decoding", {})
    tokens = Path(model_dir) / "tokens.txt"
    if decoding.get("vocab_size") not in (None, len(pieces)):
        raise UserError(
            f"{tokens}: {len(pieces)} tokens, but the model was exported with {decoding['vocab_size']}"
        )
    if decoding.get("vocabulary") not in (None, vocabulary_fingerprint(pieces)):
        raise UserError(
            f"{tokens}: not the vocabulary the model was exported with (same size, other pieces: "
            "the tokens.txt of another BPE model)"
        )


def tokens_to_text(token_ids: list[int], pieces: list[str]) -> str:
    """Join BPE pieces; '▁' starts a word (icefall's onnx_pretrained.py)."""
    return "".join(pieces[i] for i in token_ids).replace("\u2581", " ").strip()


class OnnxTransducer:
    """encoder/decoder/joiner(.int8).onnx in onnxruntime; a TransducerSteps for todm.decode.search."""

    def __init__(self, model_dir: str | Path, int8: bool = False, num_threads: int = 1) -> None:
        import onnxruntime as ort

        files = model_files(model_dir, int8)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = num_threads
        self.sessions = {
            part: ort.InferenceSession(
                str(files[part]), sess_options=opts, providers=["CPUExecutionProvider"]
            )
            for part in ONNX_PARTS
        }
        meta = self.sessions["decoder"].get_modelmeta().custom_metadata_map
        self.vocab_size, self.context_size = int(meta["vocab_size"]), int(meta["context_size"])
        self.blank_id = 0
        self.pieces = read_tokens(files["tokens"])
        if len(self.pieces) != self.vocab_size:
            raise UserError(
                f"{files['tokens']}: {len(self.pieces)} tokens but the model's vocab_size is "
                f"{self.vocab_size}"
            )
        self.unk_id = self.pieces.index("<unk>") if "<unk>" in self.pieces else None

    def run_encoder(
        self, features: torch.Tensor, feature_lens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """features (N, T, 80), feature_lens (N,) -> projected encoder_out (N, T', J), lens (N,)."""
        out, lens = self.sessions["encoder"].run(
            None, {"x": features.numpy().astype(np.float32), "x_lens": feature_lens.numpy().astype(np.int64)}
        )
        return torch.from_numpy(out), torch.from_numpy(lens)

    def project_encoder(self, encoder_out: torch.Tensor) -> torch.Tensor:
        return encoder_out  # encoder.onnx already applies joiner.encoder_proj

    def project_decoder(self, contexts: torch.Tensor) -> torch.Tensor:
        (out,) = self.sessions["decoder"].run(None, {"y": contexts.numpy().astype(np.int64)})
        return torch.from_numpy(out)

    def logits(self, encoder_proj: torch.Tensor, decoder_proj: torch.Tensor) -> torch.Tensor:
        (out,) = self.sessions["joiner"].run(
            None,
            {
                "encoder_out": np.ascontiguousarray(encoder_proj.numpy()),
                "decoder_out": np.ascontiguousarray(decoder_proj.numpy()),
            },
        )
        return torch.from_numpy(out)

    def decode_samples(
        self,
        waves: list[np.ndarray],
        method: str = "greedy_search",
        beam_size: int = 4,
        max_sym_per_frame: int = 1,
    ) -> list[list[int]]:
        """16 kHz float waves -> token ids, features by kaldi-native-fbank (padded with log(1e-10) as
        sherpa-onnx pads)."""
        from todm.data.features import knf_fbank
        from todm.decode.search import greedy_search, modified_beam_search

        feats = [torch.from_numpy(knf_fbank(w)) for w in waves]
        lens = torch.tensor([f.size(0) for f in feats], dtype=torch.int64)
        x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True, padding_value=-23.025850929940457)
        encoder_out, encoder_out_lens = self.run_encoder(x, lens)
        if method == "greedy_search":
            return greedy_search(self, encoder_out, encoder_out_lens, max_sym_per_frame, self.unk_id)
        return modified_beam_search(self, encoder_out, encoder_out_lens, beam_size, self.unk_id)


class OnnxStreamingTransducer(OnnxTransducer):
    """A streaming bundle in onnxruntime: run_encoder feeds the encoder chunk by chunk, carrying its states
    (todm.model.streaming.run_stream), so decoding gives what the stream gives."""

    def __init__(self, model_dir: str | Path, int8: bool = False, num_threads: int = 1) -> None:
        super().__init__(model_dir, int8, num_threads)
        meta = self.sessions["encoder"].get_modelmeta().custom_metadata_map
        if meta.get("streaming") != "true":
            raise UserError(f"{model_dir}: not a streaming bundle (export.py --streaming true makes one)")
        self.chunk_frames = int(meta["decode_chunk_len"])
        self.state_dims = (
            int(meta["num_encoder_layers"]),
            int(meta["d_model"]),
            int(meta["rnn_hidden_size"]),
        )

    def initial_states(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        layers, h_dim, c_dim = self.state_dims
        return (
            np.zeros((layers, batch_size, h_dim), np.float32),
            np.zeros((layers, batch_size, c_dim), np.float32),
        )

    def run_chunk(
        self, window: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One chunk: window (N, chunk + look-ahead, 80) -> encoder_out (N, chunk/4, J), next h, next c."""
        return tuple(self.sessions["encoder"].run(None, {"x": window, "h": h, "c": c}))

    def run_encoder(
        self, features: torch.Tensor, feature_lens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        from todm.model.streaming import run_stream

        h, c = self.initial_states(features.size(0))

        def step(window: torch.Tensor) -> torch.Tensor:
            nonlocal h, c
            out, h, c = self.run_chunk(np.ascontiguousarray(window.numpy(), dtype=np.float32), h, c)
            return torch.from_numpy(out)

        return run_stream(features, feature_lens, self.chunk_frames, step)


def open_onnx_transducer(model_dir: str | Path, int8: bool = False, num_threads: int = 1) -> OnnxTransducer:
    """The bundle in onnxruntime, streaming or not as its encoder says."""
    kind = OnnxStreamingTransducer if is_streaming_bundle(model_dir, int8) else OnnxTransducer
    return kind(model_dir, int8, num_threads)


def sherpa_recognizer(
    model_dir: str | Path,
    int8: bool = False,
    method: str = "greedy_search",
    beam_size: int = 4,
    num_threads: int = 1,
):
    """sherpa-onnx's recognizer for an export directory: OfflineRecognizer, or OnlineRecognizer for a
    streaming bundle (sherpa-onnx's "lstm" online model contract, see todm.export.streaming_export)."""
    import sherpa_onnx

    files = model_files(model_dir, int8)
    check_bundle_tokens(model_dir, read_tokens(files["tokens"]))  # a clear error before sherpa-onnx's own
    common = {
        "encoder": str(files["encoder"]),
        "decoder": str(files["decoder"]),
        "joiner": str(files["joiner"]),
        "tokens": str(files["tokens"]),
        "num_threads": num_threads,
        "sample_rate": 16000,
        "feature_dim": 80,
        "decoding_method": method,
        "max_active_paths": beam_size,
    }
    if is_streaming_bundle(model_dir, int8):
        return sherpa_onnx.OnlineRecognizer.from_transducer(**common, model_type="lstm")
    return sherpa_onnx.OfflineRecognizer.from_transducer(**common, modeling_unit="bpe")


def sherpa_decode(
    recognizer,
    waves: list[np.ndarray],
    pieces: list[str] | None = None,
    tail_seconds: float = STREAM_TAIL_SECONDS,
) -> list[tuple[str, list[int] | None]]:
    """Decode 16 kHz float waves; returns (text, token ids) per wave (ids when `pieces` is given). A streaming
    recognizer gets each wave, then `tail_seconds` of silence (stream_tail_seconds of its bundle), and decodes
    every chunk it is ready for."""
    import sherpa_onnx

    streams = []
    for wave in waves:
        stream = recognizer.create_stream()
        stream.accept_waveform(16000, wave)
        streams.append(stream)
    if isinstance(recognizer, sherpa_onnx.OnlineRecognizer):
        tail = np.zeros(int(tail_seconds * 16000), np.float32)
        for stream in streams:
            stream.accept_waveform(16000, tail)
            stream.input_finished()
        while ready := [s for s in streams if recognizer.is_ready(s)]:
            recognizer.decode_streams(ready)
        results = [recognizer.get_result_all(s) for s in streams]
    else:
        recognizer.decode_streams(streams)
        results = [s.result for s in streams]
    # sherpa-onnx reports pieces with '▁' turned into a space
    index = {p.replace("\u2581", " "): i for i, p in enumerate(pieces)} if pieces else None
    return [(r.text.strip(), [index[t] for t in r.tokens] if index else None) for r in results]
