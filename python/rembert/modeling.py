"""RemBERT models with transformers' names: from_pretrained(name_or_path, dtype=...) and model(**inputs)."""
import json
import logging

from . import _convert, _loading, _rembert, outputs

logger = logging.getLogger("rembert")


class RemBertConfig:
    """config.json as attributes (id2label keys as ints, as transformers has them)."""

    def __init__(self, values):
        values = dict(values)
        for key in ("id2label",):
            if key in values:
                values[key] = {int(k): v for k, v in values[key].items()}
        self.__dict__.update(values)

    @property
    def num_labels(self):
        return len(getattr(self, "id2label", {0: "LABEL_0", 1: "LABEL_1"}))

    def to_dict(self):
        return dict(self.__dict__)

    def __repr__(self):
        return f"RemBertConfig {json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)}"


class RemBertPreTrainedModel:
    """A loaded model (immutable; calls may run from several threads at once). Subclasses set the head."""

    _head = None
    _output = None
    _forward_args = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "head_mask", "inputs_embeds",
                     "encoder_hidden_states", "encoder_attention_mask", "past_key_values", "labels",
                     "start_positions", "end_positions")
    _flags = ("use_cache", "output_attentions", "output_hidden_states", "skip_padding", "logits_rows")

    def __init__(self, native, name_or_path="", folder=None):
        self._native = native
        self.name_or_path = name_or_path
        self._folder = folder  # the local folder it was loaded from (Trainer fine-tunes from there)
        self.config = RemBertConfig(json.loads(native.config_json))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, dtype=None, torch_dtype=None,
                        add_pooling_layer=True, **kwargs):
        """dtype: None (float32, as transformers), "auto" (as stored), "float32", "float16", "bfloat16", "int8",
        or a torch.dtype. Hub keywords: revision, cache_dir, local_files_only, token."""
        folder = _loading.resolve(pretrained_model_name_or_path, kwargs)
        name = _loading.dtype_name(dtype if dtype is not None else torch_dtype)
        native = _rembert.Model.load(folder, cls._head, name, add_pooling_layer)
        for warning in native.warnings:  # missing head weights initialised, unexpected keys: as transformers logs
            logger.warning(warning)
        return cls(native, str(pretrained_model_name_or_path), folder)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None,
                 labels=None, start_positions=None, end_positions=None, use_cache=None, output_attentions=None,
                 output_hidden_states=None, return_dict=None, skip_padding=None, logits_rows=None):
        """transformers' forward. Outputs are numpy arrays, or torch tensors when an input was a torch tensor.
        skip_padding (default True): padded positions of a right-padded batch are skipped and come back as zeros."""
        given = locals()
        inputs = {}
        torch_in = False
        for name in self._forward_args:
            value = given[name]
            if value is None:
                continue
            if name == "past_key_values":
                torch_in = torch_in or _convert.is_torch_tensor(value[0][0])
                inputs[name] = [tuple(_convert.to_numpy(t) for t in layer) for layer in value]
            else:
                torch_in = torch_in or _convert.is_torch_tensor(value)
                inputs[name] = _convert.to_numpy(value)
        flags = {name: given[name] for name in self._flags if given[name] is not None}
        result = self._native.forward(inputs, flags)
        if torch_in:
            result = {k: _convert.to_torch(v) for k, v in result.items()}
        out = self._output(**result)
        return out.to_tuple() if return_dict is False else out

    forward = __call__

    def generate(self, input_ids, attention_mask=None, max_new_tokens=None, max_length=None, do_sample=False,
                 temperature=1.0, top_k=50, top_p=1.0, eos_token_id=None, pad_token_id=None, seed=0, **kwargs):
        """Greedy (or sampled) continuation of each prompt: [B, columns + new] ids, numpy or torch like the input.
        Each row is continued from its real tokens alone (attention_mask 1; padding on either side), so a row's
        result is its result as a batch of one; rows that stop early (eos) are right-padded with pad_token_id
        (default: the config's). Sampling: row i uses seed + i."""
        import numpy as np

        torch_in = _convert.is_torch_tensor(input_ids)
        ids = _convert.to_numpy(input_ids)
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.ndim != 2 or ids.shape[0] == 0:
            raise ValueError(f"generate(): input_ids must be [batch, length], got shape {list(ids.shape)}")
        mask = None if attention_mask is None else _convert.to_numpy(attention_mask)
        if mask is not None and mask.shape != ids.shape:
            raise ValueError(f"generate(): attention_mask shape {list(mask.shape)} != input_ids shape "
                             f"{list(ids.shape)}")
        if pad_token_id is None:
            pad_token_id = getattr(self.config, "pad_token_id", None) or 0
        rows = []
        for i, row in enumerate(ids):
            prompt = [int(t) for t in (row if mask is None else row[mask[i] != 0])]
            options = dict(max_new_tokens=max_new_tokens, max_length=max_length, do_sample=do_sample,
                           temperature=temperature, top_k=top_k, top_p=top_p, eos_token_id=eos_token_id,
                           seed=seed + i)
            rows.append([int(t) for t in row] + list(_rembert.generate(self._native, prompt, options)))
        width = max(len(r) for r in rows)
        out = np.full((len(rows), width), pad_token_id, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, :len(r)] = r
        return _convert.to_torch(out) if torch_in else out

    @property
    def dtype(self):
        """What the matmul weights are held in, as the library names it ("F32", "BF16", "I8", ...)."""
        return self._native.dtype

    @property
    def device(self):
        return "cpu"

    @property
    def compute_info(self):
        return self._native.compute_info

    def eval(self):
        return self  # inference only: there is no dropout to switch off

    def __repr__(self):
        return f"{type(self).__name__}(name_or_path='{self.name_or_path}', head='{self._native.head}')"


def _model(name, head, output):
    doc = f"transformers' {name}: from_pretrained(name_or_path, dtype=...), then model(**inputs)."
    return type(name, (RemBertPreTrainedModel,), {"_head": head, "_output": output, "__doc__": doc})


RemBertModel = _model("RemBertModel", "model", outputs.BaseModelOutputWithPoolingAndCrossAttentions)
RemBertForMaskedLM = _model("RemBertForMaskedLM", "masked-lm", outputs.MaskedLMOutput)
RemBertForCausalLM = _model("RemBertForCausalLM", "causal-lm", outputs.CausalLMOutputWithCrossAttentions)
RemBertForSequenceClassification = _model("RemBertForSequenceClassification", "sequence-classification",
                                          outputs.SequenceClassifierOutput)
RemBertForMultipleChoice = _model("RemBertForMultipleChoice", "multiple-choice", outputs.MultipleChoiceModelOutput)
RemBertForTokenClassification = _model("RemBertForTokenClassification", "token-classification",
                                       outputs.TokenClassifierOutput)
RemBertForQuestionAnswering = _model("RemBertForQuestionAnswering", "question-answering",
                                     outputs.QuestionAnsweringModelOutput)

# The Auto classes load the model class of their task, whatever head the checkpoint was saved with.
AutoModel = RemBertModel
AutoModelForMaskedLM = RemBertForMaskedLM
AutoModelForCausalLM = RemBertForCausalLM
AutoModelForSequenceClassification = RemBertForSequenceClassification
AutoModelForMultipleChoice = RemBertForMultipleChoice
AutoModelForTokenClassification = RemBertForTokenClassification
AutoModelForQuestionAnswering = RemBertForQuestionAnswering
