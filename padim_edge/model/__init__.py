"""PyTorch side of PaDiM: backbones, feature extraction, streaming statistics, the scoring graph."""
