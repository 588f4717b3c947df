"""Shared fixtures: a tiny prepared dataset (embedded corpus -> manifests -> fbank -> BPE), built once."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs" / "librispeech" / "todm"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> dict:
    """The tiny embedded corpus prepared by the recipe's own library functions (~15 s)."""
    from todm.data.bpe import train_bpe, write_transcript
    from todm.data.corpus import prepare_embedded_corpus
    from todm.data.fbank import compute_fbank
    from todm.data.manifests import manifest_paths, prepare_librispeech_manifests

    root = tmp_path_factory.mktemp("tiny_data")
    parts = ["train-clean-100", "dev-clean"]
    corpus = prepare_embedded_corpus(root / "download", profile="tiny", seed=7, num_jobs=2)
    prepare_librispeech_manifests(corpus, root / "manifests", parts)
    compute_fbank(root / "manifests", root / "fbank", parts, num_jobs=1)
    lang = root / "lang_bpe_64"
    write_transcript(
        [manifest_paths(root / "manifests", "train-clean-100")[1]], lang / "transcript_words.txt"
    )
    train_bpe(lang / "transcript_words.txt", lang, vocab_size=64)
    return {"root": root, "corpus": corpus, "fbank_dir": root / "fbank", "bpe_model": lang / "bpe.model"}


def load_recipe_script(name: str):
    """Import egs/librispeech/todm/<name>.py as a module (its get_parser/run are tested directly)."""
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_local_tool(name: str, *args: str) -> subprocess.CompletedProcess:
    """Run local/<name> from the recipe directory, as run.sh does; its output captured, its status returned."""
    return subprocess.run(
        [sys.executable, str(REPO / "local" / name), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=RECIPE,
    )
