"""Jakiro speculative decoding: MoE draft head, hybrid tree, EAGLE-2 baseline (in-house runtime)."""
