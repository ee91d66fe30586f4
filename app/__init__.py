"""Activation service: Keras-exact activation functions over HTTP."""

__version__ = "0.1.0"
