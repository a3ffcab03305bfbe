"""rembert: Google's RemBERT models as Hugging Face transformers runs them, on the CPU (rembert.cpp).

    from rembert import AutoModelForMaskedLM, AutoTokenizer, pipeline
"""
from . import _rembert
from .modeling import (AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM, AutoModelForMultipleChoice,
                       AutoModelForQuestionAnswering, AutoModelForSequenceClassification,
                       AutoModelForTokenClassification, RemBertConfig, RemBertForCausalLM, RemBertForMaskedLM,
                       RemBertForMultipleChoice, RemBertForQuestionAnswering, RemBertForSequenceClassification,
                       RemBertForTokenClassification, RemBertModel, RemBertPreTrainedModel)
from .outputs import ModelOutput
from .pipelines import Pipeline, pipeline
from .tokenization import AutoTokenizer, BatchEncoding, RemBertTokenizer, RemBertTokenizerFast
from .training import TrainOutput, Trainer, TrainingArguments, train

__version__ = "0.1.0"


def set_num_threads(threads):
    """Threads every computation uses (0: OMP_NUM_THREADS, else all cores), like torch.set_num_threads."""
    _rembert.set_num_threads(int(threads))


def get_num_threads():
    return _rembert.get_num_threads()


__all__ = [
    "AutoModel", "AutoModelForCausalLM", "AutoModelForMaskedLM", "AutoModelForMultipleChoice",
    "AutoModelForQuestionAnswering", "AutoModelForSequenceClassification", "AutoModelForTokenClassification",
    "AutoTokenizer", "BatchEncoding", "ModelOutput", "Pipeline", "RemBertConfig", "RemBertForCausalLM",
    "RemBertForMaskedLM", "RemBertForMultipleChoice", "RemBertForQuestionAnswering",
    "RemBertForSequenceClassification", "RemBertForTokenClassification", "RemBertModel", "RemBertPreTrainedModel",
    "RemBertTokenizer", "RemBertTokenizerFast", "TrainOutput", "Trainer", "TrainingArguments", "get_num_threads",
    "pipeline", "set_num_threads", "train",
]
