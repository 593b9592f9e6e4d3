"""Workloads: the layer-list format (the contract with the training side) and its builders.

Everything is **per sample**; the simulator multiplies by the batch.  A layer is one of

``gemm``    ``Y[m x n] = X[m x k] W[k x n]`` with a weight (linear, convolution as im2col);
``bmm``     ``groups`` products of two activations (attention scores and context);
``vector``  elementwise and normalisation work on the vector unit (``vector_flops``).

``stash`` lists what the layer keeps for backward, with roles as in ``minidd.stash``:
``weight_grad_input`` (the X that only dW reads: what deferred dropout may sparsify), ``exact``,
``index`` (packed to ``bits`` per element: dropout and ReLU masks, pooling indices).

Recomputation tags (used by :mod:`hardware.fallback`): a layer's ``recompute`` names the class
(``"attention"``: the attention core; ``"pointwise"``: GELU and LayerNorm) under which its
forward is run again during backward, and a stash item's ``recompute`` the class under which it
is not stored; ``block`` names the transformer block a layer belongs to (full per-block
checkpointing keeps only each block's input).  ``inputs`` names the producing layers (``"input"``
for the model input) and ``in_elements`` gives the size read from each: the workload is checked
to chain (each input's size equals its producer's output).

A layer reads ``in_elements[0]`` elements of input (for a convolution: the input tensor, not its
im2col matrix); without ``inputs`` (as in a minidd trace, which does not record the dataflow
graph and so is not chain-checked) the size of its stashed weight-gradient input, else ``m * k``.

A JSON trace has the same fields: ``{"name": ..., "layers": [{"name": ..., "kind": ...,
"m": ..., "k": ..., "n": ..., "stash": [{"role": ..., "elements": ..., ...}], ...}]}``.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass

from .files import InputFileError, read_json

KINDS = ("gemm", "bmm", "vector")
ROLES = ("weight_grad_input", "exact", "index")
RECOMPUTE_CLASSES = ("", "attention", "pointwise")


@dataclass(frozen=True)
class StashItem:
    role: str
    elements: int                   #: per sample
    natural_sparsity: float = 0.0   #: fraction of exact zeros
    bits: int | None = None         #: for masks and indices: bits per element
    row_elements: int = 0           #: one row of the dW input's 2-D view (0: unknown)
    recompute: str = ""             #: recomputation class that leaves this item unstored
    #: a ReLU mask: the zero pattern of its layer's output, which a consumer's zero-value stash
    #: of that output already holds as its bitmap (then it is not stored twice)
    zero_mask: bool = False

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"StashItem.role must be one of {ROLES}, got {self.role!r}")
        if self.recompute not in RECOMPUTE_CLASSES:
            raise ValueError(f"StashItem.recompute must be one of {RECOMPUTE_CLASSES}, got {self.recompute!r}")
        if isinstance(self.row_elements, bool) or not isinstance(self.row_elements, int) or self.row_elements < 0:
            raise ValueError(f"StashItem.row_elements must be a non-negative int, got {self.row_elements!r}")
        if isinstance(self.elements, bool) or not isinstance(self.elements, int) or self.elements < 1:
            raise ValueError(f"StashItem.elements must be a positive int, got {self.elements!r}")
        if (isinstance(self.natural_sparsity, bool) or not isinstance(self.natural_sparsity, (int, float))
                or not 0.0 <= self.natural_sparsity <= 1.0):
            raise ValueError(f"StashItem.natural_sparsity must be in [0, 1], got {self.natural_sparsity!r}")
        if self.bits is not None and (not isinstance(self.bits, int) or self.bits < 1):
            raise ValueError(f"StashItem.bits must be a positive int, got {self.bits!r}")
        if not isinstance(self.zero_mask, bool) or (self.zero_mask and self.bits != 1):
            raise ValueError(f"StashItem.zero_mask must be true or false, and true only for a "
                             f"1-bit mask, got {self.zero_mask!r}")


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str
    m: int = 1
    k: int = 1
    n: int = 1
    groups: int = 1
    params: int = 0
    vector_flops: int = 0
    in_elements: tuple = ()
    out_elements: int = 0
    inputs: tuple = ()
    stash: tuple = ()
    keep_dense: bool = False   #: first layer, embeddings, head: deferred dropout leaves it dense
    shares_stash_with: str = ""  #: a gemm whose weight-gradient input is stashed by that layer
    input_grad: bool = True      #: False for a layer on the model input (no dX to compute)
    block: str = ""              #: the transformer block this layer belongs to
    recompute: str = ""          #: recomputation class under which backward reruns its forward
    #: a convolution's geometry ``(height, width, kernel, stride, padding)`` of its input, for
    #: block skipping on the im2col reduction (:mod:`hardware.codesign`); empty otherwise
    conv: tuple = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Layer.name must be a non-empty string, got {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(f"layer {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        for f in ("m", "k", "n", "groups"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"layer {self.name!r}: {f} must be a positive int, got {v!r}")
        for f in ("params", "vector_flops", "out_elements"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"layer {self.name!r}: {f} must be a non-negative int, got {v!r}")
        for v in self.in_elements:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"layer {self.name!r}: in_elements must hold positive ints, got {v!r}")
        if len(self.in_elements) != len(self.inputs):
            raise ValueError(f"layer {self.name!r}: in_elements needs one size per input "
                             f"({len(self.inputs)}), got {len(self.in_elements)}")
        if self.kind == "bmm" and len(self.in_elements) != 2:
            raise ValueError(f"layer {self.name!r}: a bmm reads two inputs; give inputs and in_elements for both")
        if self.recompute not in RECOMPUTE_CLASSES:
            raise ValueError(f"layer {self.name!r}: recompute must be one of {RECOMPUTE_CLASSES}, got {self.recompute!r}")
        if not isinstance(self.conv, (tuple, list)):
            raise ValueError(f"layer {self.name!r}: conv must be (height, width, kernel, stride, "
                             f"padding) or empty, got {self.conv!r}")
        object.__setattr__(self, "conv", tuple(self.conv))
        if self.conv and (len(self.conv) != 5 or any(isinstance(v, bool) or not isinstance(v, int)
                                                     for v in self.conv)
                          or min(self.conv[:4]) < 1 or self.conv[4] < 0):
            raise ValueError(f"layer {self.name!r}: conv must be (height, width, kernel, stride, "
                             f"padding) as whole numbers (padding may be 0), got {self.conv!r}")
        if not all(isinstance(s, StashItem) for s in self.stash):
            raise ValueError(f"layer {self.name!r}: stash must hold StashItem objects")

    @property
    def macs(self) -> int:
        return self.groups * self.m * self.k * self.n if self.kind != "vector" else 0


@dataclass(frozen=True)
class Workload:
    name: str
    layers: tuple

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ValueError(f"workload {self.name!r} has no layers")
        out = {"input": None}
        for layer in self.layers:
            if layer.name in out:
                raise ValueError(f"workload {self.name!r}: duplicate layer name {layer.name!r}")
            for src, size in zip(layer.inputs, layer.in_elements):
                if src not in out:
                    raise ValueError(f"workload {self.name!r}: layer {layer.name!r} reads {src!r}, "
                                     "which is not an earlier layer")
                if out[src] is not None and out[src] != size:
                    raise ValueError(f"workload {self.name!r}: shapes do not chain: layer "
                                     f"{layer.name!r} reads {size} elements per sample from "
                                     f"{src!r}, which produces {out[src]}")
            if layer.shares_stash_with:
                owner = next((x for x in self.layers if x.name == layer.shares_stash_with), None)
                if owner is None or not any(i.role == "weight_grad_input" for i in owner.stash):
                    raise ValueError(f"workload {self.name!r}: layer {layer.name!r} shares the stash "
                                     f"of {layer.shares_stash_with!r}, which stashes no weight-gradient input")
            out[layer.name] = layer.out_elements

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "layers": [asdict(layer) for layer in self.layers]})


_LAYER_FIELDS = {f for f in Layer.__dataclass_fields__}
_ITEM_FIELDS = {f for f in StashItem.__dataclass_fields__}
_TRACE_EXTRAS = {"batch", "policy", "measured"}  #: what a minidd trace adds besides the layers


def workload_from_dict(data: dict, source: str = "workload") -> Workload:
    """Build a workload from plain data (a parsed JSON workload or minidd trace).

    Errors name ``source``, the layer and the field: a size written as a string, an unknown
    field, a missing one."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected an object with 'name' and 'layers', got {type(data).__name__}")
    for key in ("name", "layers"):
        if key not in data:
            raise ValueError(f"{source}: missing field {key!r}")
    unknown = set(data) - {"name", "layers"} - _TRACE_EXTRAS
    if unknown:
        raise ValueError(f"{source}: unknown field {sorted(unknown)[0]!r}")
    if not isinstance(data["layers"], list):
        raise ValueError(f"{source}: 'layers' must be a list of layer objects")
    layers = []
    for i, d in enumerate(data["layers"]):
        where = f"{source}: layer {i}" + (f" ({d.get('name')!r})" if isinstance(d, dict) and "name" in d else "")
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected an object, got {type(d).__name__}")
        bad = set(d) - _LAYER_FIELDS
        if bad:
            raise ValueError(f"{where}: unknown field {sorted(bad)[0]!r}")
        d = dict(d)
        try:
            items = []
            for j, item in enumerate(d.get("stash", ())):
                if not isinstance(item, dict):
                    raise ValueError(f"stash item {j} must be an object")
                if set(item) - _ITEM_FIELDS:
                    raise ValueError(f"stash item {j}: unknown field {sorted(set(item) - _ITEM_FIELDS)[0]!r}")
                try:
                    items.append(StashItem(**item))
                except TypeError as e:
                    raise ValueError(f"stash item {j}: {e}") from None
                except ValueError as e:
                    raise ValueError(f"stash item {j}: {e}") from None
            d["stash"] = tuple(items)
            d["inputs"] = tuple(d.get("inputs", ()))
            d["in_elements"] = tuple(d.get("in_elements", ()))
            layers.append(Layer(**d))
        except TypeError as e:  # a missing required field
            raise ValueError(f"{where}: {e}") from None
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    try:
        return Workload(data["name"], tuple(layers))
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None


def load_workload(path) -> Workload:
    """A workload or minidd trace from a JSON file; every error names the file."""
    data = read_json(path, "a JSON workload or minidd trace")
    try:
        return workload_from_dict(data, os.fspath(path))
    except ValueError as e:
        raise InputFileError(str(e)) from None


# ------------------------------------------------------------------------------- builders
def _linear(name, src, m, k, n, shares="", sparsity=0.0, keep_dense=False, in_el=None, block="",
            recompute=""):
    st = () if shares else (StashItem("weight_grad_input", m * k, sparsity, row_elements=k,
                                      recompute=recompute),)
    return Layer(name, "gemm", m, k, n, params=k * n + n, in_elements=(in_el or m * k,),
                 out_elements=m * n, inputs=(src,), stash=st, keep_dense=keep_dense,
                 shares_stash_with=shares, block=block)


def _vector(name, srcs, elements, flops_per_element, stash=(), out=None, block="", recompute=""):
    srcs = (srcs,) if isinstance(srcs, str) else tuple(srcs)
    return Layer(name, "vector", vector_flops=int(elements * flops_per_element),
                 in_elements=tuple(elements for _ in srcs), out_elements=out or elements,
                 inputs=srcs, stash=tuple(stash), block=block, recompute=recompute)


def _mask(elements, recompute=""):
    """A dropout mask: one bit per element."""
    return StashItem("index", elements, bits=1, recompute=recompute)


#: vector FLOPs per dropout element: 2 to scale and mask (forward and backward) plus the random
#: bits.  **Assumption**: 16 FLOPs per element for the counter-based generator (TensorFlow's
#: stateless dropout on TPU draws Philox-4x32-10 bits: 10 rounds of two 32-bit multiplies and
#: xors per 4 words, about 16 vector operations per element at one 32-bit word each)
DROPOUT_FLOPS = 2 + 16

BERT_SIZES = {"base": (12, 768, 12, 3072), "large": (24, 1024, 16, 4096)}


def bert(size: str = "base", seq: int = 128, num_classes: int = 2, vocab: int = 30522,
         pretraining: bool = False, one_hot_embeddings: bool = False) -> Workload:
    """BERT encoder (post-LN) with a classifier on the first token, per sample of ``seq`` tokens.

    The stash follows Korthikanti et al. (MLSys 2023, section 4.1), ``34 s h + 5 a s^2`` bytes
    per block and sample in 16-bit: the Q/K/V input (shared by the three projections), Q and K
    for the scores, the softmax output, the attention-dropout mask (1 bit) and its output, V,
    the output projection's input, its dropout mask, LayerNorm, the feed-forward input, the
    GELU input and output, the second dropout mask and LayerNorm.  Embeddings and the head are
    kept dense by deferred dropout; GELU and LayerNorm outputs have no exact zeros.  Tags say
    what selective recomputation (``attention``: scores, softmax and attention dropout;
    ``pointwise``: GELU and LayerNorm outputs) and per-block checkpointing leave out.

    ``pretraining`` replaces the classifier by BERT's pre-training heads (Devlin et al. 2019;
    google-research/bert ``run_pretraining.py``): the masked-LM head on ``ceil(0.15 s)``
    gathered positions (``max_predictions_per_seq``: 20 at s = 128) -- a dense h x h transform,
    GELU and LayerNorm, the output projection onto the vocabulary (tied to the word embedding,
    so only its bias is a new parameter) and the softmax over the vocabulary -- and the
    next-sentence head (pooler h x h on the first token, 2 classes).  ``one_hot_embeddings``
    looks the word embedding up as a GEMM of one-hot rows, ``[s x vocab] [vocab x h]``, forward
    and weight gradient, as google-research/bert does on TPU (``use_one_hot_embeddings=
    FLAGS.use_tpu``); the one-hot rows are generated on chip from the token ids.
    """
    if size not in BERT_SIZES:
        raise ValueError(f"bert: size must be one of {tuple(BERT_SIZES)}, got {size!r}")
    n_layers, h, heads, ff = BERT_SIZES[size]
    s, dh = seq, h // heads
    if one_hot_embeddings:
        layers = [Layer("word_embed", "gemm", s, vocab, h, params=vocab * h, in_elements=(s,),
                        out_elements=s * h, inputs=("input",), keep_dense=True, input_grad=False),
                  Layer("embed", "vector", vector_flops=8 * s * h, params=(512 + 2) * h + 2 * h,
                        in_elements=(s * h,), out_elements=s * h, inputs=("word_embed",),
                        stash=(StashItem("exact", s * h),), keep_dense=True)]
    else:
        layers = [Layer("embed", "vector", vector_flops=8 * s * h, params=(vocab + 512 + 2) * h + 2 * h,
                        out_elements=s * h, stash=(StashItem("exact", s * h),), keep_dense=True)]
    layers.append(_vector("embed_dropout", "embed", s * h, DROPOUT_FLOPS, stash=(_mask(s * h),)))
    x = "embed_dropout"
    for i in range(n_layers):
        p = f"block{i}."
        b = dict(block=f"block{i}")
        att = heads * s * s
        layers += [
            _linear(p + "q", x, s, h, h, recompute="pointwise", **b),
            _linear(p + "k", x, s, h, h, shares=p + "q", **b),   # Q, K, V read one stashed input
            _linear(p + "v", x, s, h, h, shares=p + "q", **b),
            Layer(p + "scores", "bmm", s, dh, s, groups=heads, in_elements=(s * h, s * h),
                  out_elements=att, inputs=(p + "q", p + "k"),
                  stash=(StashItem("exact", s * h), StashItem("exact", s * h)),
                  recompute="attention", **b),
            _vector(p + "softmax", p + "scores", att, 10,
                    stash=(StashItem("exact", att, recompute="attention"),), recompute="attention", **b),
            _vector(p + "attn_dropout", p + "softmax", att, DROPOUT_FLOPS,
                    stash=(_mask(att, "attention"),), recompute="attention", **b),
            Layer(p + "context", "bmm", s, s, dh, groups=heads, in_elements=(att, s * h),
                  out_elements=s * h, inputs=(p + "attn_dropout", p + "v"),
                  stash=(StashItem("exact", att, recompute="attention"), StashItem("exact", s * h)), **b),
            _linear(p + "attn_out", p + "context", s, h, h, **b),
            _vector(p + "attn_out_dropout", p + "attn_out", s * h, DROPOUT_FLOPS, stash=(_mask(s * h),), **b),
            _vector(p + "ln1", (p + "attn_out_dropout", x), s * h, 12,
                    stash=(StashItem("exact", s * h),), recompute="pointwise", **b),
            _linear(p + "ff1", p + "ln1", s, h, ff, recompute="pointwise", **b),
            _vector(p + "gelu", p + "ff1", s * ff, 16, stash=(StashItem("exact", s * ff),),
                    recompute="pointwise", **b),
            _linear(p + "ff2", p + "gelu", s, ff, h, recompute="pointwise", **b),
            _vector(p + "ff2_dropout", p + "ff2", s * h, DROPOUT_FLOPS, stash=(_mask(s * h),), **b),
            _vector(p + "ln2", (p + "ff2_dropout", p + "ln1"), s * h, 12,
                    stash=(StashItem("exact", s * h),), recompute="pointwise", **b),
        ]
        x = p + "ln2"
    if not pretraining:
        layers.append(_linear("head", x, 1, h, num_classes, keep_dense=True, in_el=s * h))
        return Workload(f"bert-{size}-seq{seq}", tuple(layers))
    p = math.ceil(0.15 * s)
    layers += [
        _linear("mlm_transform", x, p, h, h, keep_dense=True, in_el=s * h),
        _vector("mlm_gelu_ln", "mlm_transform", p * h, 28, stash=(StashItem("exact", p * h),)),
        Layer("mlm_decoder", "gemm", p, h, vocab, params=vocab, in_elements=(p * h,),
              out_elements=p * vocab, inputs=("mlm_gelu_ln",),
              stash=(StashItem("weight_grad_input", p * h, row_elements=h),), keep_dense=True),
        _vector("mlm_softmax", "mlm_decoder", p * vocab, 10, stash=(StashItem("exact", p * vocab),)),
        _linear("pooler", x, 1, h, h, keep_dense=True, in_el=s * h),
        _vector("pooler_tanh", "pooler", h, 4, stash=(StashItem("exact", h),)),
        _linear("nsp", "pooler_tanh", 1, h, 2, keep_dense=True)]
    name = f"bert-{size}-seq{seq}-pretraining" + ("-onehot" if one_hot_embeddings else "")
    return Workload(name, tuple(layers))


def _conv(name, src, c, hw_in, o, k, stride, sparsity, keep_dense=False):
    ho = (hw_in + 2 * (k // 2) - k) // stride + 1
    return Layer(name, "gemm", ho * ho, c * k * k, o, params=c * k * k * o,
                 in_elements=(c * hw_in * hw_in,), out_elements=o * ho * ho, inputs=(src,),
                 stash=(StashItem("weight_grad_input", c * hw_in * hw_in, sparsity, row_elements=c),),
                 keep_dense=keep_dense, input_grad=src != "input",
                 conv=(hw_in, hw_in, k, stride, k // 2)), ho


def _relu_mask(elements):
    """A ReLU's 1-bit mask of its output's zeros."""
    return StashItem("index", elements, bits=1, zero_mask=True)


def _bn_relu(name, src, c, hw, relu=True):
    """BatchNorm (stashes its normalised input exactly) and ReLU (a 1-bit mask)."""
    el = c * hw * hw
    stash = [StashItem("exact", el)] + ([_relu_mask(el)] if relu else [])
    return _vector(name, src, el, 10 + (1 if relu else 0), stash=stash)


def resnet50(relu_sparsity: float = 0.5, num_classes: int = 1000, image: int = 224) -> Workload:
    """ResNet-50 (v1.5 bottlenecks, stride in the 3x3 conv); conv inputs after a ReLU have
    ``relu_sparsity`` exact zeros."""
    layers = []
    conv, hw = _conv("conv1", "input", 3, image, 64, 7, 2, 0.0, keep_dense=True)
    layers += [conv, _bn_relu("bn1", "conv1", 64, hw)]
    layers.append(_vector("pool1", "bn1", 64 * hw * hw, 1, out=64 * (hw // 2) ** 2,
                          stash=(StashItem("index", 64 * (hw // 2) ** 2, bits=4),)))
    hw //= 2
    src, c = "pool1", 64
    for stage, (width, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))):
        for b in range(blocks):
            p = f"layer{stage + 1}.{b}."
            s = stride if b == 0 else 1
            c1, hw1 = _conv(p + "conv1", src, c, hw, width, 1, 1, relu_sparsity)
            c2, hw2 = _conv(p + "conv2", p + "bn1", width, hw1, width, 3, s, relu_sparsity)
            c3, hw3 = _conv(p + "conv3", p + "bn2", width, hw2, 4 * width, 1, 1, relu_sparsity)
            layers += [c1, _bn_relu(p + "bn1", p + "conv1", width, hw1),
                       c2, _bn_relu(p + "bn2", p + "conv2", width, hw2),
                       c3, _bn_relu(p + "bn3", p + "conv3", 4 * width, hw3, relu=False)]
            short = src
            if b == 0:
                d, _ = _conv(p + "down", src, c, hw, 4 * width, 1, s, relu_sparsity)
                layers += [d, _bn_relu(p + "down_bn", p + "down", 4 * width, hw3, relu=False)]
                short = p + "down_bn"
            el = 4 * width * hw3 * hw3
            layers.append(_vector(p + "add_relu", (p + "bn3", short), el, 2,
                                  stash=(_relu_mask(el),)))
            src, c, hw = p + "add_relu", 4 * width, hw3
    layers.append(_vector("avgpool", src, c * hw * hw, 1, out=c))
    layers.append(_linear("fc", "avgpool", 1, c, num_classes, sparsity=0.0, keep_dense=True))
    return Workload("resnet50", tuple(layers))


VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def vgg16(relu_sparsity: float = 0.5, num_classes: int = 1000, image: int = 224) -> Workload:
    """VGG-16 (no BatchNorm): 13 convolutions with ReLU, 5 max-pools, 3 fully connected layers."""
    layers, src, c, hw, i = [], "input", 3, image, 0
    for v in VGG16_CFG:
        if v == "M":
            out = c * (hw // 2) ** 2
            layers.append(_vector(f"pool{i}", src, c * hw * hw, 1, out=out,
                                  stash=(StashItem("index", out, bits=2),)))
            src, hw = f"pool{i}", hw // 2
            continue
        i += 1
        conv, hw = _conv(f"conv{i}", src, c, hw, v, 3, 1, 0.0 if i == 1 else relu_sparsity,
                         keep_dense=(i == 1))
        el = v * hw * hw
        layers += [conv, _vector(f"relu{i}", f"conv{i}", el, 1, stash=(_relu_mask(el),))]
        src, c = f"relu{i}", v
    feat = c * hw * hw
    layers += [_linear("fc1", src, 1, feat, 4096, sparsity=relu_sparsity),
               _vector("fc1_relu", "fc1", 4096, 1, stash=(_relu_mask(4096),)),
               _linear("fc2", "fc1_relu", 1, 4096, 4096, sparsity=relu_sparsity),
               _vector("fc2_relu", "fc2", 4096, 1, stash=(_relu_mask(4096),)),
               _linear("fc3", "fc2_relu", 1, 4096, num_classes, sparsity=relu_sparsity, keep_dense=True)]
    return Workload("vgg16", tuple(layers))


PAPER_MODELS = {
    "bert-base-128": lambda s: bert("base", 128),
    "bert-base-512": lambda s: bert("base", 512),
    "bert-large-128": lambda s: bert("large", 128),
    "bert-large-512": lambda s: bert("large", 512),
    "resnet50": lambda s: resnet50(s),
    "vgg16": lambda s: vgg16(s),
}


def paper_model(name: str, relu_sparsity: float = 0.5) -> Workload:
    """One of :data:`PAPER_MODELS` (ReLU sparsity matters only for the CNNs)."""
    if name not in PAPER_MODELS:
        raise ValueError(f"paper_model: unknown model {name!r}; choose from {tuple(PAPER_MODELS)}")
    return PAPER_MODELS[name](relu_sparsity)


