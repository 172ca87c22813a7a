"""nnreel engine: train small networks while recording them into run folders."""
