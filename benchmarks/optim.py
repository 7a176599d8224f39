"""Chapter 02's update rules: dlkit's steps against torch.optim on one parameter.

One step on a parameter of a million entries (ten at the tiny size). The torch side
is ``torch.optim``'s own step (its default foreach implementation); the extra
"twin" column times dlkit.torch's step on the same tensor. No target: the NumPy
rules return new arrays (they update nothing in place, to be read as the
equations), so they move two to three times more memory than torch's in-place step.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from dlkit.numpy import optim as np_optim
from dlkit.torch import optim as pt_optim

from .ops import Case

#: name -> (dlkit function, torch.optim class, hyperparameters)
RULES = {
    "sgd": ("sgd_step", torch.optim.SGD, dict(lr=1e-2, momentum=0.9)),
    "rmsprop": ("rmsprop_step", torch.optim.RMSprop, dict(lr=1e-3)),
    "adam": ("adam_step", torch.optim.Adam, dict(lr=1e-3)),
}


def _rule(name: str) -> Callable[..., Case]:
    fn_name, cls, hyper = RULES[name]

    def build(size: str, dtype: np.dtype, rng: np.random.Generator) -> Case:
        n = 1_000_000 if size == "full" else 10
        w0, g = (rng.standard_normal(n).astype(dtype) for _ in range(2))
        param = torch.nn.Parameter(torch.tensor(w0))
        param.grad = torch.tensor(g)
        opt = cls([param], **hyper)
        ours = {"w": w0.copy(), "state": None}
        twin = {"w": torch.tensor(w0), "state": None}
        gt = torch.tensor(g)

        def numpy_step():
            ours["w"], ours["state"] = getattr(np_optim, fn_name)(
                ours["w"], g, ours["state"], **hyper)
            return ours["w"]

        def torch_step():
            opt.step()
            return param

        def twin_step():
            twin["w"], twin["state"] = getattr(pt_optim, fn_name)(
                twin["w"], gt, twin["state"], **hyper)
            return twin["w"]

        label = "sgd (momentum)" if name == "sgd" else name
        return Case(f"{label} step", numpy_step, torch_step, None, None, twin=twin_step)

    build.__doc__ = f"one {name} step on a parameter of 10^6 entries."
    return build


CASES: dict[str, Callable[..., Case | None]] = {name: _rule(name) for name in RULES}
