"""Kangaroo: lossless self-speculative decoding via double early exiting (arXiv 2404.18911)."""
