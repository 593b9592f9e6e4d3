"""Neural-network modules: layers, attention and the three model families."""
from .attention import MultiHeadSelfAttention, TransformerEncoderBlock
from .layers import (GELU, BatchNorm2d, Conv2d, Dropout, Embedding, Flatten, LayerNorm, Linear,
                     MaxPool2d, ReLU)
from .models import CNN, MLP, BertEncoder, MiniBERT
from .module import Module, Parameter, Sequential, atomic_savez

__all__ = ["Module", "Parameter", "Sequential", "Linear", "Conv2d", "MaxPool2d", "BatchNorm2d",
           "LayerNorm", "ReLU", "GELU", "Flatten", "Dropout", "Embedding",
           "MultiHeadSelfAttention", "TransformerEncoderBlock", "MLP", "CNN", "BertEncoder",
           "MiniBERT", "atomic_savez"]
