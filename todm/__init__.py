"""todm: Train Once, Deploy Many (Shangguan et al., 2023) on icefall-style recipes."""
