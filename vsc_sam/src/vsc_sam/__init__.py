"""vsc_sam: video copy segment matching with the Similarity Alignment Model (SAM)."""

__version__ = "0.1.0"
