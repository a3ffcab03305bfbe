"""rembert.pipeline(task, model=...): transformers' six pipelines, returning the same Python objects (lists, dicts,
floats) nested the same way for single and batched inputs."""
import logging

import numpy as np

from . import _loading, _rembert, modeling, tokenization

logger = logging.getLogger("rembert")


class Pipeline:
    task = None
    _head = None

    def __init__(self, native, model=None, tokenizer=None):
        self._native = native
        self.model = model
        self.tokenizer = tokenizer

    def __call__(self, inputs, **kwargs):
        return _each(inputs, lambda x: self._one(x, kwargs))

    def _one(self, inputs, kwargs):
        raise NotImplementedError


class FillMaskPipeline(Pipeline):
    task = "fill-mask"
    _head = "masked-lm"

    def __call__(self, inputs, top_k=None, targets=None):
        options = {"top_k": top_k, "targets": [targets] if isinstance(targets, str) else targets}
        texts = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        results = []
        for text in texts:
            masks = self._native.fill_mask(text, options)
            results.append(masks[0] if len(masks) == 1 else masks)
        # transformers: a list of one text gives that text's result, unwrapped.
        return results if isinstance(inputs, (list, tuple)) and len(inputs) != 1 else results[0]


class TextClassificationPipeline(Pipeline):
    task = "text-classification"
    _head = "sequence-classification"

    def __call__(self, inputs, **kwargs):
        legacy = "top_k" not in kwargs  # transformers: without top_k, only the best label, as a dict
        options = {
            "top_k": None if legacy else (0 if kwargs["top_k"] is None else kwargs["top_k"]),
            "function_to_apply": getattr(kwargs.get("function_to_apply"), "value", kwargs.get("function_to_apply")),
            "truncation": kwargs.get("truncation"),
            "max_length": kwargs.get("max_length"),
        }

        def one(item):
            text, pair = item, None
            if isinstance(item, dict):
                text, pair = item["text"], item.get("text_pair")
            scores = self._native.text_classification(text, pair, options)
            return scores[0] if legacy else scores

        if isinstance(inputs, list) and len(inputs) == 1 and isinstance(inputs[0], list) and len(inputs[0]) == 2:
            return one({"text": inputs[0][0], "text_pair": inputs[0][1]})  # the legacy pair form [[text, pair]]
        if isinstance(inputs, (list, tuple)):
            return [one(x) for x in inputs]
        result = one(inputs)
        return [result] if isinstance(inputs, str) and legacy else result


class TokenClassificationPipeline(Pipeline):
    task = "token-classification"
    _head = "token-classification"

    def __call__(self, inputs, aggregation_strategy=None, ignore_labels=None, stride=None):
        options = {
            "aggregation_strategy": getattr(aggregation_strategy, "value", aggregation_strategy),
            "ignore_labels": ignore_labels,
            "stride": stride,
        }

        def one(text):
            entities = self._native.token_classification(text, options)
            for e in entities:
                e["score"] = np.float32(e["score"])  # transformers' scores here are numpy float32
            return entities

        return _each(inputs, one)


class QuestionAnsweringPipeline(Pipeline):
    task = "question-answering"
    _head = "question-answering"
    _options = ("top_k", "max_answer_len", "max_seq_len", "doc_stride", "handle_impossible_answer",
                "align_to_words")

    def __call__(self, *args, question=None, context=None, **kwargs):
        unknown = set(kwargs) - set(self._options)
        if unknown:
            raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")
        examples = self._examples(args, question, context)
        results = [self._answer(q, c, kwargs) for q, c in examples]
        return results[0] if len(results) == 1 else results

    @staticmethod
    def _examples(args, question, context):
        if question is not None or context is not None:
            if question is None or context is None:
                raise ValueError("question-answering needs both question= and context=")
            if isinstance(question, (list, tuple)):
                contexts = context if isinstance(context, (list, tuple)) else [context] * len(question)
                return list(zip(question, contexts))
            return [(question, context)]
        if len(args) == 1:
            items = args[0] if isinstance(args[0], (list, tuple)) else [args[0]]
        elif len(args) == 2 and all(isinstance(a, str) for a in args):
            return [(args[0], args[1])]
        else:
            items = list(args)
        examples = []
        for item in items:
            if not isinstance(item, dict) or "question" not in item or "context" not in item:
                raise ValueError(f"question-answering expects dicts with 'question' and 'context', got {item!r}")
            examples.append((item["question"], item["context"]))
        return examples

    def _answer(self, question, context, kwargs):
        answers = self._native.question_answering(question, context, kwargs)
        return answers[0] if len(answers) == 1 else answers


class FeatureExtractionPipeline(Pipeline):
    task = "feature-extraction"
    _head = "model"

    def __call__(self, inputs, return_tensors=False, tokenize_kwargs=None, truncation=None, max_length=None,
                 pooling=None, normalize=None):
        tokenize_kwargs = dict(tokenize_kwargs or {})
        options = {
            "truncation": truncation if truncation is not None else tokenize_kwargs.get("truncation"),
            "max_length": max_length if max_length is not None else tokenize_kwargs.get("max_length"),
            "pooling": pooling,
            "normalize": normalize,
        }

        def one(text):
            features = self._native.feature_extraction(text, options)
            if not return_tensors:
                return features.tolist()  # [1][tokens][hidden] of Python floats
            try:
                import torch
            except ImportError:
                return features
            return torch.from_numpy(features)

        return _each(inputs, one)


class TextGenerationPipeline(Pipeline):
    task = "text-generation"
    _head = "causal-lm"

    def __call__(self, text_inputs, return_tensors=False, return_text=True, num_return_sequences=1, **kwargs):
        if num_return_sequences < 1:
            raise ValueError(f"num_return_sequences must be at least 1, got {num_return_sequences}")
        if num_return_sequences > 1 and not kwargs.get("do_sample"):
            # transformers refuses the same: greedy search returns one sequence.
            raise ValueError("Greedy methods without beam search do not support `num_return_sequences` different "
                             f"than 1 (got {num_return_sequences}); pass do_sample=True")
        seed = kwargs.pop("seed", 0) or 0

        def sequence(prompt, i):
            result = self._native.text_generation(prompt, dict(kwargs, seed=seed + i))  # sample i: seed + i
            if return_tensors:
                return {"generated_token_ids": result["prompt_ids"] + result["generated_ids"]}
            return {"generated_text": result["generated_text"]}

        return _each(text_inputs, lambda prompt: [sequence(prompt, i) for i in range(num_return_sequences)])


def _each(inputs, one):
    """transformers' pipelines take one input or a list of them, and answer in kind."""
    if isinstance(inputs, (list, tuple)):
        return [one(x) for x in inputs]
    return one(inputs)


PIPELINES = {p.task: p for p in (FillMaskPipeline, TextClassificationPipeline, TokenClassificationPipeline,
                                 QuestionAnsweringPipeline, FeatureExtractionPipeline, TextGenerationPipeline)}
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}


def pipeline(task=None, model=None, tokenizer=None, dtype=None, torch_dtype=None, device=None, use_fast=True,
             **kwargs):
    """transformers.pipeline for the six RemBERT tasks. model: a folder, a hub id, or a loaded rembert model (then
    with tokenizer=, a loaded rembert tokenizer or a name). Only the CPU exists here."""
    task = ALIASES.get(task, task)
    if task not in PIPELINES:
        raise KeyError(f"Unknown task {task}, available tasks are {sorted(PIPELINES) + sorted(ALIASES)}")
    if model is None:
        raise ValueError(f"pipeline('{task}') needs model=: a model folder or hub id (no default model offline)")
    if device not in (None, -1, "cpu") and str(device) != "cpu":
        raise ValueError(f"device={device!r}: rembert runs on the CPU only")
    klass = PIPELINES[task]
    model_class = {m._head: m for m in modeling.RemBertPreTrainedModel.__subclasses__()}[klass._head]
    dtype = _loading.dtype_name(dtype if dtype is not None else torch_dtype)
    if tokenizer is not None and not isinstance(model, modeling.RemBertPreTrainedModel):
        model = model_class.from_pretrained(model, dtype=dtype, **kwargs)  # a tokenizer of its own: load apart
    if isinstance(model, modeling.RemBertPreTrainedModel):
        if tokenizer is None:
            raise ValueError("pipeline() with a loaded model needs tokenizer=")
        if not isinstance(tokenizer, tokenization.PreTrainedTokenizerBase):
            tokenizer = tokenization.AutoTokenizer.from_pretrained(tokenizer, use_fast=use_fast)
        native = _rembert.PipelineModel.from_parts(model._native, tokenizer._native)
        return klass(native, model, tokenizer)
    name = str(model)
    folder = _loading.resolve(name, kwargs)
    native = _rembert.PipelineModel.load(folder, klass._head, dtype, "auto" if use_fast else "slow")
    for warning in native.warnings:
        logger.warning(warning)
    tok_class = tokenization.RemBertTokenizerFast if native.tokenizer.is_fast else tokenization.RemBertTokenizer
    return klass(native, model_class(native.model, name), tok_class(native.tokenizer, name))
