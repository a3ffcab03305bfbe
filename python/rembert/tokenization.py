"""Tokenizers with transformers' interface: AutoTokenizer, RemBertTokenizer(Fast), BatchEncoding."""
import numpy as np

from . import _convert, _loading, _rembert

VERY_LARGE_INTEGER = int(1e30)  # transformers' model_max_length when the tokenizer sets none

_UNEVEN = ("Unable to create tensor, you should probably activate truncation and/or padding with 'padding=True' "
           "'truncation=True' to have batched tensors with the same length. Perhaps your features (`{}` in this "
           "case) have excessive nesting (inputs type `list` where type `int` is expected).")


class BatchEncoding(dict):
    """The result of tokenizer(...): a dict of fields that also allows attribute access (inputs.input_ids)."""

    def __init__(self, data=None, tokens=None):
        super().__init__(data or {})
        self._tokens = tokens

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def tokens(self, batch_index=0):
        """The tokens of one encoding (fast and slow alike here)."""
        if self._tokens is None:
            raise ValueError("tokens() is not available for this BatchEncoding")
        return self._tokens[batch_index]

    def to(self, device):
        """torch tensors moved to `device` (only "cpu" exists here); other values unchanged."""
        return BatchEncoding({k: v.to(device) if _convert.is_torch_tensor(v) else v for k, v in self.items()},
                             self._tokens)

    def convert_to_tensors(self, tensor_type):
        for key, value in list(self.items()):
            self[key] = _as_tensor(value, tensor_type, key)
        return self


def _as_tensor(value, tensor_type, key):
    if tensor_type is None:
        return value
    try:
        array = np.asarray(value, dtype=np.int64)
    except ValueError:
        raise ValueError(_UNEVEN.format(key)) from None
    if tensor_type == "np":
        return array
    if tensor_type == "pt":
        import torch

        return torch.from_numpy(array)
    raise ValueError(f"return_tensors={tensor_type!r} is not supported: use 'np', 'pt' or None")


def _padding_name(padding):
    if padding is True:
        return "longest"
    if padding is False or padding is None:
        return "do_not_pad"
    return str(getattr(padding, "value", padding))


def _truncation_name(truncation):
    if truncation is None:
        return None
    if truncation is True:
        return "longest_first"
    if truncation is False:
        return "do_not_truncate"
    return str(getattr(truncation, "value", truncation))


def _is_text_list(value):
    return isinstance(value, (list, tuple))


class PreTrainedTokenizerBase:
    """What RemBertTokenizer and RemBertTokenizerFast share; wraps a native rembert tokenizer."""

    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    padding_side = "right"
    truncation_side = "right"
    _kind = "auto"

    def __init__(self, native, name_or_path=""):
        self._native = native
        self.name_or_path = name_or_path

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *inputs, **kwargs):
        folder = _loading.resolve(pretrained_model_name_or_path, kwargs, weights=False)
        native = _rembert.Tokenizer.load(folder, cls._kind)
        klass = RemBertTokenizerFast if native.is_fast else RemBertTokenizer
        return klass(native, str(pretrained_model_name_or_path))

    # ---- encoding
    def __call__(self, text=None, text_pair=None, add_special_tokens=True, padding=False, truncation=None,
                 max_length=None, stride=0, is_split_into_words=False, pad_to_multiple_of=None, padding_side=None,
                 return_tensors=None, return_token_type_ids=None, return_attention_mask=None,
                 return_overflowing_tokens=False, return_special_tokens_mask=False, return_offsets_mapping=False,
                 return_length=False, verbose=True, **kwargs):
        if text is None:
            raise ValueError("You need to specify either `text` or `text_target`.")
        if is_split_into_words:
            raise ValueError("is_split_into_words is not supported by rembert")
        if kwargs:
            raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        if return_offsets_mapping and not self.is_fast:
            raise NotImplementedError(
                "return_offset_mapping is not available when using Python tokenizers. To use this feature, change "
                "your tokenizer to one deriving from transformers.PreTrainedTokenizerFast.")
        batched = _is_text_list(text)
        if batched:
            texts = list(text)
            if text_pair is None and texts and all(_is_text_list(t) and len(t) == 2 for t in texts):
                pairs = [t[1] for t in texts]  # a batch of (text, pair) tuples
                texts = [t[0] for t in texts]
            else:
                pairs = list(text_pair) if text_pair is not None else None
        else:
            texts = [text]
            pairs = [text_pair] if text_pair is not None else None
        options = {
            "add_special_tokens": add_special_tokens,
            "padding": _padding_name(padding),
            "truncation": _truncation_name(truncation),
            "max_length": max_length,
            "stride": stride,
            "pad_to_multiple_of": pad_to_multiple_of,
            "padding_side": padding_side or self.padding_side,
            "truncation_side": self.truncation_side,
            "return_overflowing_tokens": return_overflowing_tokens,
        }
        columns = self._native.encode_batch(texts, pairs, options)
        data = {}
        want = {
            "token_type_ids": return_token_type_ids is not False,
            "attention_mask": return_attention_mask is not False,
            "special_tokens_mask": return_special_tokens_mask,
            "offset_mapping": return_offsets_mapping,
        }
        if return_overflowing_tokens and not self.is_fast:
            data["overflowing_tokens"] = columns["overflowing_tokens"]
            data["num_truncated_tokens"] = columns["num_truncated_tokens"]
        for key in self._field_order:
            if key == "input_ids" or want.get(key):
                data[key] = columns[key]
        if return_length:
            data["length"] = [len(ids) for ids in columns["input_ids"]]
        if return_overflowing_tokens and self.is_fast:
            data["overflow_to_sample_mapping"] = columns["overflow_to_sample_mapping"]
        # One text without overflow: the fields of that one encoding, as transformers returns them.
        single = not batched and not (return_overflowing_tokens and self.is_fast)
        if single:
            data = {k: v[0] for k, v in data.items()}
            if return_tensors is not None:
                data = {k: v if k == "num_truncated_tokens" else [v] for k, v in data.items()}
        encoding = BatchEncoding(data, columns["tokens"])
        return encoding.convert_to_tensors(return_tensors)

    def encode(self, text, text_pair=None, add_special_tokens=True, padding=False, truncation=None, max_length=None,
               stride=0, return_tensors=None, **kwargs):
        encoded = self(text, text_pair=text_pair, add_special_tokens=add_special_tokens, padding=padding,
                       truncation=truncation, max_length=max_length, stride=stride, return_tensors=return_tensors,
                       **kwargs)
        return encoded["input_ids"]

    def tokenize(self, text, pair=None, add_special_tokens=False, **kwargs):
        tokens = self._native.tokenize(text)
        if pair is not None:
            tokens += self._native.tokenize(pair)
        return tokens

    # ---- decoding
    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None, **kwargs):
        return self._native.decode(_convert.to_int_list(token_ids), skip_special_tokens, clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=None, **kwargs):
        if _convert.is_torch_tensor(sequences) or isinstance(sequences, np.ndarray):
            sequences = sequences.tolist()
        rows = [_convert.to_int_list(s) for s in sequences]
        return self._native.batch_decode(rows, skip_special_tokens, clean_up_tokenization_spaces)

    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        if isinstance(ids, (int, np.integer)) or (_convert.is_torch_tensor(ids) and ids.dim() == 0):
            return self._native.convert_id_to_token(int(ids))
        return self._native.convert_ids_to_tokens(_convert.to_int_list(ids), skip_special_tokens)

    def convert_tokens_to_ids(self, tokens):
        if isinstance(tokens, str):
            return self._native.convert_token_to_id(tokens)
        return self._native.convert_tokens_to_ids(list(tokens))

    # ---- vocabulary and special tokens
    @property
    def is_fast(self):
        return self._native.is_fast

    @property
    def vocab_size(self):
        return self._native.vocab_size

    def __len__(self):
        return len(self._native)

    def get_vocab(self):
        return self._native.get_vocab()

    @property
    def model_max_length(self):
        length = self._native.model_max_length
        return VERY_LARGE_INTEGER if length is None else length

    @property
    def all_special_ids(self):
        return list(self._native.all_special_ids)

    @property
    def special_tokens_map(self):
        return {k: v for k, v in self._native.special_tokens.items() if v}

    @property
    def all_special_tokens(self):
        return self.convert_ids_to_tokens(self.all_special_ids)

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        return self._native.build_inputs_with_special_tokens(token_ids_0, token_ids_1)

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        return self._native.get_special_tokens_mask(token_ids_0, token_ids_1, already_has_special_tokens)

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        return self._native.create_token_type_ids_from_sequences(token_ids_0, token_ids_1)

    def save_vocabulary(self, save_directory, filename_prefix=None):
        return tuple(self._native.save_vocabulary(str(save_directory), filename_prefix or ""))

    def __repr__(self):
        return (f"{type(self).__name__}(name_or_path='{self.name_or_path}', vocab_size={self.vocab_size}, "
                f"model_max_length={self.model_max_length}, is_fast={self.is_fast})")


def _special(name):
    """The properties <name>_token and <name>_token_id (None when the tokenizer has no such token)."""

    def token(self):
        return self._native.special_tokens[name + "_token"]

    def token_id(self):
        value = token(self)
        return None if value is None else self._native.convert_token_to_id(value)

    return property(token), property(token_id)


for _name in ("bos", "eos", "unk", "sep", "pad", "cls", "mask"):
    _token, _token_id = _special(_name)
    setattr(PreTrainedTokenizerBase, _name + "_token", _token)
    setattr(PreTrainedTokenizerBase, _name + "_token_id", _token_id)


class RemBertTokenizer(PreTrainedTokenizerBase):
    """transformers' RemBertTokenizer (sentencepiece.model)."""

    _kind = "slow"
    _field_order = ("input_ids", "token_type_ids", "special_tokens_mask", "attention_mask")


class RemBertTokenizerFast(PreTrainedTokenizerBase):
    """transformers' RemBertTokenizerFast (tokenizer.json)."""

    _kind = "fast"
    _field_order = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping")


class AutoTokenizer:
    """AutoTokenizer.from_pretrained(name_or_path, use_fast=True): the fast tokenizer when tokenizer.json exists."""

    def __init__(self):
        raise EnvironmentError("AutoTokenizer is designed to be instantiated using "
                               "`AutoTokenizer.from_pretrained(pretrained_model_name_or_path)`")

    @staticmethod
    def from_pretrained(pretrained_model_name_or_path, *inputs, use_fast=True, **kwargs):
        folder = _loading.resolve(pretrained_model_name_or_path, kwargs, weights=False)
        native = _rembert.Tokenizer.load(folder, "auto" if use_fast else "slow")
        klass = RemBertTokenizerFast if native.is_fast else RemBertTokenizer
        return klass(native, str(pretrained_model_name_or_path))
