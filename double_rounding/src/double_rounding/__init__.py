"""Double Rounding: one-shot multi- and mixed-precision QAT from stored INT8 weights."""

__version__ = "0.1.0"
