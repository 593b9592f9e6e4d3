"""Neural-network modules: layers, attention and the three model families."""
from .attention import MultiHeadSelfAttention, TransformerEncoderBlock
from .layers import (GELU, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Dropout, Embedding,
                     Flatten, Identity, LayerNorm, Linear, MaxPool2d, ReLU, Sigmoid, Tanh)
from .models import CNN, CNN1d, MLP, BertEncoder, CharLM, MiniBERT, ResidualMLP
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Linear", "Conv1d", "Conv2d",
           "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "ReLU", "GELU",
           "Tanh", "Sigmoid", "Identity", "Flatten", "Dropout", "Embedding",
           "MultiHeadSelfAttention", "TransformerEncoderBlock", "MLP", "CNN", "ResidualMLP", "CNN1d", "BertEncoder",
           "MiniBERT", "CharLM"]
