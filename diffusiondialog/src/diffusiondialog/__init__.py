"""DiffusionDialog: BART with a continuous latent and a latent diffusion prior.

Paper: arXiv 2404.06760 (LREC-COLING 2024).
"""

__version__ = "0.1.0"
