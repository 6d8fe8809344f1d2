"""Keep the frozen base's linear weights in bfloat16 when LoRA trains under a CPU's bf16 autocast.

Autocast casts an fp32 weight to bf16 each time a linear layer runs, and caches the cast only for leaf tensors that
require a gradient. LoRA's base weights do not, so every forward cast them all again: on the laptop Qwen run, 169
weights and half a billion parameters, five forwards a step (the shared opening and four rows), about 8% of a step
in `aten::_to_copy`. Stored in bf16 once, they give each matmul the very operands autocast made (the same rounding),
so the loss and every gradient are unchanged bit for bit (a test checks it); their memory halves too.

Only frozen layers are cast, after PEFT has added its adapters (so the adapters start from the same fp32 draw), and
only for PEFT models, whose checkpoints hold the adapters alone: the base weights on disk stay as they were.
"""

from __future__ import annotations

from typing import Any


def frozen_linears_to(model: Any, dtype: Any) -> int:
    """Cast every linear layer of `model` whose parameters are all frozen to `dtype`; returns how many parameters
    were cast. A layer whose weight is shared with one that is not cast (an LM head tied to the input embeddings,
    which must keep the residual stream in fp32) gets a copy of its own."""
    import torch

    cast = 0
    shared = {id(p) for m in model.modules() if not isinstance(m, torch.nn.Linear) for p in m.parameters(False)}
    for module in model.modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        params = dict(module.named_parameters(recurse=False))
        if not params or any(p.requires_grad for p in params.values()) or params["weight"].dtype == dtype:
            continue
        for name, param in params.items():
            copy = param.detach().to(dtype)
            if id(param) not in shared:
                param.data = copy  # in place: anything holding the parameter sees the cast
            else:  # untie: the other module keeps the fp32 original
                setattr(module, name, torch.nn.Parameter(copy, requires_grad=False))
            cast += param.numel()
    return cast
