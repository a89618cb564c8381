"""slm-posttrain: continuous post-training pipeline for small language models (arXiv 2411.02939)."""

__version__ = "0.1.0"
