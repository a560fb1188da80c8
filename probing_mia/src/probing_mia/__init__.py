"""probing_mia: pre-training data detection by probing activations (arXiv 2406.01333)."""

__version__ = "0.1.0"
