"""Layers: `Module` keeps parameters; `Linear` and `Sequential` are enough for an MLP."""
from . import functional
from .modules import Linear, Module, Parameter, ReLU, Sequential, Sigmoid, Tanh

__all__ = ["functional", "Module", "Parameter", "Linear", "Sequential", "ReLU", "Tanh",
           "Sigmoid"]
