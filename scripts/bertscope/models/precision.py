"""The arithmetic precision of the model's passes (config ``precision``): fp32, TF32 matmuls, or bf16 autocast."""

from __future__ import annotations

from contextlib import contextmanager

import torch

from bertscope.pipeline.schema import check_allowed


@contextmanager
def compute_precision(precision: str, device):
    """Run the enclosed model passes at ``precision``.

    ``fp32``: torch's default, exact (the tutorial's numbers). ``tf32``: CUDA matmuls and convolutions on the
    tensor cores' TF32 (a 10-bit mantissa for the products, fp32 sums); nothing changes on a CPU. ``bf16``:
    autocast of the model's forward to bfloat16 on ``device`` (CPU or CUDA); what captum computes outside the
    model (the path, the sums over it, the deltas) and the explained logits
    (:func:`~bertscope.models.forward.explained_logits`) stay fp32.

    Args:
        precision: one of the schema's ``precision`` values.
        device: the torch device (or its name) the model runs on.
    """
    check_allowed("precision", precision)
    device = torch.device(device)
    if precision == "bf16":
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
        return
    if precision == "tf32":
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
        return
    yield
