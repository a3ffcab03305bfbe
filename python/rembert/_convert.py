"""Array conversions between the caller's types (lists, numpy, torch) and the numpy arrays the native code reads.

numpy arrays pass through untouched (the native side views their buffer); torch tensors go through .numpy(), which
shares their memory; outputs become torch tensors with torch.from_numpy, which shares ours. torch is imported only
when the caller already passed a torch tensor, so it stays optional.
"""
import sys

import numpy as np


def is_torch_tensor(value):
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def to_numpy(value):
    """An input as a numpy array, without a copy where the memory allows it."""
    if isinstance(value, np.ndarray):
        return value
    if is_torch_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def to_torch(value):
    """numpy arrays (also inside tuples) as torch tensors sharing their memory."""
    import torch

    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, tuple):
        return tuple(to_torch(v) for v in value)
    return value


def to_int_list(value):
    """Token ids given as an int, a list, a numpy array or a torch tensor, as a flat list of ints."""
    if is_torch_tensor(value):
        value = value.tolist()
    elif isinstance(value, np.ndarray) or isinstance(value, np.generic):
        value = value.tolist()
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]
