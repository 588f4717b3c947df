"""Data preparation: the embedded espeak-ng corpus, manifests, features and BPE."""
