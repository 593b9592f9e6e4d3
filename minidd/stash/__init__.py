"""Where saved activations live between the forward and backward pass.

Every op keeps what its backward needs through ``ctx.save(array, role=...)``; that call lands in
:func:`save`, which hands the array to the active :class:`StashPolicy` and books the packed entry
in the :class:`Ledger`.  Policies register themselves by name (:data:`REGISTRY`, read by the
spec strings of :mod:`minidd.stash.spec`); :func:`hooks` makes one from a PyTorch-style
``saved_tensors_hooks`` pair.  Choose a policy for a block of code with :func:`use`::

    with minidd.stash.use(DeferredDropout(drop=0.9)):
        loss = model(x).cross_entropy(y); loss.backward()
"""
from .entries import StashEntry, to_bfloat16, from_bfloat16
from .fidelity import gradient_fidelity, gradient_noise
from .ledger import Ledger, LedgerRow
from .policies import REGISTRY, Dense, DeferredDropout, PackInfo, StashPolicy, ZeroValue
from .random_k import RandomK
from .hooks import HooksPolicy, hooks
from .spec import as_policy, format_spec, from_config, parse_spec, spec_key
from .structures import STRUCTURES
from .roles import EXACT, INDEX, PARAMETER, ROLES, WEIGHT_GRAD_INPUT, Scope, current_scope, scope
from .store import get_policy, ledger, release, save, set_policy, use

__all__ = [
    "StashPolicy", "Dense", "ZeroValue", "DeferredDropout", "RandomK", "HooksPolicy", "hooks",
    "PackInfo", "REGISTRY", "StashEntry", "Ledger", "LedgerRow",
    "use", "set_policy", "get_policy", "ledger", "save", "release", "scope", "current_scope",
    "Scope", "WEIGHT_GRAD_INPUT", "EXACT", "PARAMETER", "INDEX", "ROLES", "to_bfloat16",
    "from_bfloat16", "gradient_fidelity", "gradient_noise", "from_config", "parse_spec", "format_spec", "spec_key", "as_policy",
    "STRUCTURES",
]
