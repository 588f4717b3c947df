"""Data: the embedded espeak-ng corpus, manifests, features and BPE (preparation), and `loader`: cuts to the
`Batch` that training, decoding and search consume."""
