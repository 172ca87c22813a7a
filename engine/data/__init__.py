"""Datasets: offline procedural digits, real MNIST IDX files, torchvision datasets, 2-D planes.

Every loader returns a ``Data`` bundle held in memory as tensors, so the trainer can batch by
index (fast, deterministic and resumable) without a DataLoader.
"""

from engine.data.core import Data
from engine.data.mnist import read_idx
from engine.data.registry import DATASETS, load_data

__all__ = ["DATASETS", "Data", "load_data", "read_idx"]
