"""GhostNetV3 (arXiv 2404.11202): re-parameterisable compact CNNs and their training strategy."""

__version__ = "0.1.0"
