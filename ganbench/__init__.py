"""ganbench: a benchmark and evaluation harness for generative adversarial networks."""

__version__ = "0.1.0"
