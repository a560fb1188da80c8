"""RETURN benchmark and the Name-Aware Unlearning Framework (NAUF), re-implemented."""

__version__ = "0.1.0"
