"""The model families of the study: a ReLU-MLP, a VGG-style CNN, a mini-BERT, a causal character LM
and the MNIST-1D reference MLP and CNN.

Each model marks its first layer, embeddings and classifier head ``stash_dense`` so that
:class:`~minidd.stash.DeferredDropout` leaves them dense by default.
"""
from __future__ import annotations

import numpy as np

from .attention import TransformerEncoderBlock
from .layers import BatchNorm2d, Conv1d, Conv2d, Dropout, Embedding, Flatten, LayerNorm, Linear, MaxPool2d, ReLU
from .module import Module, Sequential


def _dense(m: Module) -> Module:
    m.stash_dense = True
    return m


class MLP(Module):
    """ReLU multi-layer perceptron, e.g. ``MLP((784, 512, 512, 10), rng=rng)``."""

    def __init__(self, sizes=(784, 512, 512, 10), *, rng):
        super().__init__()
        sizes = tuple(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            lin = Linear(a, b, rng=rng)
            last = i == len(sizes) - 2
            layers.append(_dense(lin) if i == 0 or last else lin)
            if not last:
                layers.append(ReLU())
        self.layers = Sequential(*layers)
        self.sizes = sizes

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"MLP: input has shape {x.shape}, expected (N, {self.sizes[0]})")
        return self.layers(x)


class CNN(Module):
    """VGG-style: blocks of [conv3x3-BN-ReLU] x convs_per_block then 2x2 max-pool; linear head.

    ``CNN(in_channels=1, image_size=28, channels=(32, 64))`` on MNIST.
    """

    def __init__(self, in_channels=1, image_size=28, channels=(32, 64), convs_per_block=1,
                 num_classes=10, *, rng):
        super().__init__()
        layers, c, size, first = [], in_channels, image_size, True
        for width in channels:
            for _ in range(convs_per_block):
                conv = Conv2d(c, width, 3, padding=1, rng=rng, bias=False)
                layers += [_dense(conv) if first else conv, BatchNorm2d(width), ReLU()]
                c, first = width, False
            layers.append(MaxPool2d(2))
            size //= 2
        if size < 1:
            raise ValueError(f"CNN: image_size {image_size} is too small for {len(channels)} pooling stages")
        layers += [Flatten(), _dense(Linear(c * size * size, num_classes, rng=rng))]
        self.layers = Sequential(*layers)
        self.input_shape = (in_channels, image_size, image_size)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise ValueError(f"CNN: input has shape {x.shape}, expected (N, {', '.join(map(str, self.input_shape))})")
        return self.layers(x)


class BertEncoder(Module):
    """Token and position embeddings, LayerNorm, then ``layers`` Transformer encoder blocks."""

    def __init__(self, vocab_size, max_len=128, dim=64, heads=4, layers=2, ff_dim=256,
                 dropout=0.1, pre_ln=False, *, rng):
        super().__init__()
        self.tok = Embedding(vocab_size, dim, rng=rng)
        self.pos = Embedding(max_len, dim, rng=rng)
        self.ln = LayerNorm(dim)
        self.blocks = Sequential(*[TransformerEncoderBlock(dim, heads, ff_dim, rng=rng,
                                                           dropout=dropout, pre_ln=pre_ln)
                                   for _ in range(layers)])
        self.vocab_size, self.max_len, self.dim = vocab_size, max_len, dim

    def forward(self, tokens, mask=None, causal=False):
        """``tokens`` (B, T) integers; ``mask`` (B, T) booleans, True for real tokens;
        ``causal=True``: each position sees only itself and the positions before it."""
        tokens = np.asarray(getattr(tokens, "data", tokens))
        if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
            raise ValueError(f"{type(self).__name__}: tokens must be integers of shape (B, T), "
                             f"got {tokens.dtype} {tokens.shape}")
        b, t = tokens.shape
        if t > self.max_len:
            raise ValueError(f"{type(self).__name__}: sequence length {t} exceeds the position "
                             f"table ({self.max_len})")
        x = self.ln(self.tok(tokens) + self.pos(np.arange(t)))
        for block in self.blocks:
            x = block(x, mask, causal)
        return x


class CharLM(Module):
    """A causal (GPT-style) character language model: a pre-LN :class:`BertEncoder` under the
    causal mask, a final LayerNorm and an untied output layer (``stash_dense``, like every
    model's head), giving next-symbol logits (B, T, vocab) at every position."""

    def __init__(self, vocab_size, context=64, dim=64, heads=4, layers=2, ff_dim=256, dropout=0.0, *, rng):
        super().__init__()
        self.encoder = BertEncoder(vocab_size, context, dim, heads, layers, ff_dim, dropout, pre_ln=True, rng=rng)
        self.ln = LayerNorm(dim)
        self.head = _dense(Linear(dim, vocab_size, rng=rng))

    def forward(self, tokens):
        """``tokens`` (B, T) integers, T at most ``context``."""
        return self.head(self.ln(self.encoder(tokens, causal=True)))


class MiniBERT(Module):
    """A BERT-like encoder with a classifier on the first token (``pool="cls"``) or the mean
    of the real tokens (``pool="mean"``)."""

    def __init__(self, vocab_size, num_classes=2, max_len=128, dim=64, heads=4, layers=2,
                 ff_dim=256, dropout=0.1, pool="cls", pre_ln=False, *, rng):
        super().__init__()
        if pool not in ("cls", "mean"):
            raise ValueError(f"MiniBERT: pool must be 'cls' or 'mean', got {pool!r}")
        self.encoder = BertEncoder(vocab_size, max_len, dim, heads, layers, ff_dim, dropout,
                                   pre_ln, rng=rng)
        self.head = _dense(Linear(dim, num_classes, rng=rng))
        self.pool = pool

    def forward(self, tokens, mask=None):
        h = self.encoder(tokens, mask)
        if self.pool == "cls":
            pooled = h[:, 0]
        else:
            m = np.ones(h.shape[:2], h.dtype) if mask is None else np.asarray(mask, h.dtype)
            pooled = (h * m[:, :, None]).sum(axis=1) * (1.0 / np.maximum(m.sum(1), 1.0))[:, None]
        return self.head(pooled)


class ResidualMLP(Module):
    """The MNIST-1D reference MLP (Greydanus and Kobak, ``MLPBase``): ``h = relu(W1 x)``,
    ``h = h + relu(W2 h)``, logits ``W3 h``; the first layer and the head are marked dense.
    ``dropout > 0`` (a regulariser the reference does not use) drops ``h`` after each of the
    two hidden layers."""

    def __init__(self, in_features=40, hidden=100, num_classes=10, dropout=0.0, *, rng):
        super().__init__()
        self.drop = Dropout(dropout, rng=rng) if dropout else None
        self.linear1 = _dense(Linear(in_features, hidden, rng=rng))
        self.linear2 = Linear(hidden, hidden, rng=rng)
        self.linear3 = _dense(Linear(hidden, num_classes, rng=rng))
        self.in_features = in_features

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"ResidualMLP: input has shape {x.shape}, expected (N, {self.in_features})")
        h = self._drop(self.linear1(x).relu())
        h = self._drop(h + self.linear2(h).relu())
        return self.linear3(h)

    def _drop(self, h):
        return h if self.drop is None else self.drop(h)


class CNN1d(Module):
    """The MNIST-1D reference CNN (``ConvBase``): three ``Conv1d`` with ``channels`` channels
    (kernel 5 stride 2, then kernel 3 stride 2 twice, padding 1), ReLU after each, and a linear
    head on the flattened features (25 x 5 = 125 for length 40); the first convolution and the
    head are marked dense.  ``dropout > 0`` (not in the reference) drops the flattened features."""

    def __init__(self, length=40, channels=25, num_classes=10, dropout=0.0, *, rng):
        super().__init__()
        self.drop = Dropout(dropout, rng=rng) if dropout else None
        self.conv1 = _dense(Conv1d(1, channels, 5, stride=2, padding=1, rng=rng))
        self.conv2 = Conv1d(channels, channels, 3, stride=2, padding=1, rng=rng)
        self.conv3 = Conv1d(channels, channels, 3, stride=2, padding=1, rng=rng)
        out = length
        for k in (5, 3, 3):
            out = (out + 2 - k) // 2 + 1
        if out < 1:
            raise ValueError(f"CNN1d: length {length} is too short for three stride-2 convolutions")
        self.linear = _dense(Linear(channels * out, num_classes, rng=rng))
        self.length = length

    def forward(self, x):
        if x.ndim != 2 or x.shape[1] != self.length:
            raise ValueError(f"CNN1d: input has shape {x.shape}, expected (N, {self.length})")
        h = x.reshape(x.shape[0], 1, self.length)
        for conv in (self.conv1, self.conv2, self.conv3):
            h = conv(h).relu()
        h = h.reshape(h.shape[0], -1)
        return self.linear(h if self.drop is None else self.drop(h))
