"""Model outputs with transformers' class and field names: a dict of the fields that are set, which also allows
attribute access (outputs.logits, None when unset) and indexing by position (outputs[0]), like ModelOutput."""
from collections import OrderedDict


class ModelOutput(OrderedDict):
    _fields = ()

    def __init__(self, **values):
        super().__init__()
        unknown = set(values) - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(unknown))}")
        for name in self._fields:
            if values.get(name) is not None:
                self[name] = values[name]

    def __getattr__(self, name):
        if name in type(self)._fields:
            return self.get(name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __getitem__(self, key):
        if isinstance(key, str):
            return super().__getitem__(key)
        return self.to_tuple()[key]

    def to_tuple(self):
        return tuple(self[k] for k in self.keys())

    def __repr__(self):
        fields = ", ".join(f"{k}={_short(v)}" for k, v in self.items())
        return f"{type(self).__name__}({fields})"


def _short(value):
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"<{type(value).__name__} {tuple(shape)}>"
    if isinstance(value, tuple):
        return f"<tuple of {len(value)}>"
    return repr(value)


def _output(name, fields):
    return type(name, (ModelOutput,), {"_fields": tuple(fields), "__doc__": f"transformers' {name}."})


_CLASSIFIER = ("loss", "logits", "hidden_states", "attentions")
BaseModelOutputWithPoolingAndCrossAttentions = _output(
    "BaseModelOutputWithPoolingAndCrossAttentions",
    ("last_hidden_state", "pooler_output", "hidden_states", "past_key_values", "attentions", "cross_attentions"))
MaskedLMOutput = _output("MaskedLMOutput", _CLASSIFIER)
CausalLMOutputWithCrossAttentions = _output(
    "CausalLMOutputWithCrossAttentions",
    ("loss", "logits", "past_key_values", "hidden_states", "attentions", "cross_attentions"))
SequenceClassifierOutput = _output("SequenceClassifierOutput", _CLASSIFIER)
MultipleChoiceModelOutput = _output("MultipleChoiceModelOutput", _CLASSIFIER)
TokenClassifierOutput = _output("TokenClassifierOutput", _CLASSIFIER)
QuestionAnsweringModelOutput = _output(
    "QuestionAnsweringModelOutput", ("loss", "start_logits", "end_logits", "hidden_states", "attentions"))
