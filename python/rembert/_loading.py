"""from_pretrained's shared arguments: where a model lives (folder or hub id) and the dtype asked for."""
from . import _rembert

_HUB_KEYS = ("revision", "cache_dir", "local_files_only", "token")


def resolve(name_or_path, kwargs, weights=True):
    """A local folder for `name_or_path`: the folder itself, or the hub snapshot in the Hugging Face cache."""
    hub = {key: kwargs.pop(key) for key in _HUB_KEYS if key in kwargs}
    if "use_auth_token" in kwargs:  # transformers' older name of token
        hub["token"] = kwargs.pop("use_auth_token")
    return _rembert.resolve_model(str(name_or_path), hub, weights)


def dtype_name(dtype):
    """dtype= / torch_dtype= as the library's name: None, "auto", a string, or a torch.dtype."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        return dtype
    name = str(dtype)  # torch.float32 -> "torch.float32"
    return name[len("torch."):] if name.startswith("torch.") else name
