# Type stubs of the public API of `rembert` (for editors and type checkers).
from collections import OrderedDict
from typing import Any, Dict, List, Literal, Mapping, NamedTuple, Optional, Sequence, Tuple, Union, overload

import numpy as np

__version__: str

ArrayLike = Any  # a numpy array, a torch tensor or nested lists of ints
DTypeName = Union[Literal["auto", "float32", "float16", "bfloat16", "int8"], Any]  # or a torch.dtype
TextInput = str
TensorType = Optional[Literal["np", "pt"]]

def set_num_threads(threads: int) -> None: ...
def get_num_threads() -> int: ...

class BatchEncoding(Dict[str, Any]):
    input_ids: Any
    token_type_ids: Any
    attention_mask: Any
    special_tokens_mask: Any
    offset_mapping: Any
    def __getattr__(self, name: str) -> Any: ...
    def tokens(self, batch_index: int = 0) -> List[str]: ...
    def to(self, device: str) -> "BatchEncoding": ...
    def convert_to_tensors(self, tensor_type: TensorType) -> "BatchEncoding": ...

class PreTrainedTokenizerBase:
    name_or_path: str
    model_input_names: List[str]
    padding_side: str
    truncation_side: str
    bos_token: Optional[str]
    eos_token: Optional[str]
    unk_token: Optional[str]
    sep_token: Optional[str]
    pad_token: Optional[str]
    cls_token: Optional[str]
    mask_token: Optional[str]
    bos_token_id: Optional[int]
    eos_token_id: Optional[int]
    unk_token_id: Optional[int]
    sep_token_id: Optional[int]
    pad_token_id: Optional[int]
    cls_token_id: Optional[int]
    mask_token_id: Optional[int]
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str, *inputs: Any, revision: Optional[str] = ...,
                        cache_dir: Optional[str] = ..., local_files_only: bool = ..., token: Optional[str] = ...,
                        **kwargs: Any) -> "PreTrainedTokenizerBase": ...
    def __call__(self, text: Union[str, Sequence[str], Sequence[Tuple[str, str]]],
                 text_pair: Optional[Union[str, Sequence[str]]] = None, add_special_tokens: bool = True,
                 padding: Union[bool, str] = False, truncation: Optional[Union[bool, str]] = None,
                 max_length: Optional[int] = None, stride: int = 0, is_split_into_words: bool = False,
                 pad_to_multiple_of: Optional[int] = None, padding_side: Optional[str] = None,
                 return_tensors: TensorType = None, return_token_type_ids: Optional[bool] = None,
                 return_attention_mask: Optional[bool] = None, return_overflowing_tokens: bool = False,
                 return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                 return_length: bool = False, verbose: bool = True) -> BatchEncoding: ...
    def encode(self, text: str, text_pair: Optional[str] = None, add_special_tokens: bool = True,
               padding: Union[bool, str] = False, truncation: Optional[Union[bool, str]] = None,
               max_length: Optional[int] = None, stride: int = 0, return_tensors: TensorType = None,
               **kwargs: Any) -> Any: ...
    def tokenize(self, text: str, pair: Optional[str] = None, add_special_tokens: bool = False,
                 **kwargs: Any) -> List[str]: ...
    def decode(self, token_ids: Union[int, ArrayLike], skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: Optional[bool] = None, **kwargs: Any) -> str: ...
    def batch_decode(self, sequences: ArrayLike, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: Optional[bool] = None, **kwargs: Any) -> List[str]: ...
    @overload
    def convert_ids_to_tokens(self, ids: int, skip_special_tokens: bool = False) -> str: ...
    @overload
    def convert_ids_to_tokens(self, ids: ArrayLike, skip_special_tokens: bool = False) -> List[str]: ...
    @overload
    def convert_tokens_to_ids(self, tokens: str) -> int: ...
    @overload
    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> List[int]: ...
    @property
    def is_fast(self) -> bool: ...
    @property
    def vocab_size(self) -> int: ...
    def __len__(self) -> int: ...
    def get_vocab(self) -> Dict[str, int]: ...
    @property
    def model_max_length(self) -> int: ...
    @property
    def all_special_ids(self) -> List[int]: ...
    @property
    def all_special_tokens(self) -> List[str]: ...
    @property
    def special_tokens_map(self) -> Dict[str, Any]: ...
    def build_inputs_with_special_tokens(self, token_ids_0: List[int],
                                         token_ids_1: Optional[List[int]] = None) -> List[int]: ...
    def get_special_tokens_mask(self, token_ids_0: List[int], token_ids_1: Optional[List[int]] = None,
                                already_has_special_tokens: bool = False) -> List[int]: ...
    def create_token_type_ids_from_sequences(self, token_ids_0: List[int],
                                             token_ids_1: Optional[List[int]] = None) -> List[int]: ...
    def save_vocabulary(self, save_directory: str, filename_prefix: Optional[str] = None) -> Tuple[str, ...]: ...

class RemBertTokenizer(PreTrainedTokenizerBase): ...
class RemBertTokenizerFast(PreTrainedTokenizerBase): ...

class AutoTokenizer:
    @staticmethod
    def from_pretrained(pretrained_model_name_or_path: str, *inputs: Any, use_fast: bool = True,
                        revision: Optional[str] = ..., cache_dir: Optional[str] = ..., local_files_only: bool = ...,
                        token: Optional[str] = ..., **kwargs: Any) -> PreTrainedTokenizerBase: ...

class ModelOutput(OrderedDict[str, Any]):
    loss: Any
    logits: Any
    start_logits: Any
    end_logits: Any
    last_hidden_state: Any
    pooler_output: Any
    hidden_states: Optional[Tuple[Any, ...]]
    attentions: Optional[Tuple[Any, ...]]
    cross_attentions: Optional[Tuple[Any, ...]]
    past_key_values: Optional[Tuple[Tuple[Any, ...], ...]]
    def __getitem__(self, key: Union[str, int, slice]) -> Any: ...
    def to_tuple(self) -> Tuple[Any, ...]: ...

class RemBertConfig:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    id2label: Dict[int, str]
    label2id: Dict[str, int]
    is_decoder: bool
    @property
    def num_labels(self) -> int: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def __getattr__(self, name: str) -> Any: ...

class RemBertPreTrainedModel:
    config: RemBertConfig
    name_or_path: str
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str, *model_args: Any, dtype: DTypeName = None,
                        torch_dtype: DTypeName = None, add_pooling_layer: bool = True, revision: Optional[str] = ...,
                        cache_dir: Optional[str] = ..., local_files_only: bool = ..., token: Optional[str] = ...,
                        **kwargs: Any) -> Any: ...
    def __call__(self, input_ids: Optional[ArrayLike] = None, attention_mask: Optional[ArrayLike] = None,
                 token_type_ids: Optional[ArrayLike] = None, position_ids: Optional[ArrayLike] = None,
                 head_mask: Optional[ArrayLike] = None, inputs_embeds: Optional[ArrayLike] = None,
                 encoder_hidden_states: Optional[ArrayLike] = None, encoder_attention_mask: Optional[ArrayLike] = None,
                 past_key_values: Optional[Sequence[Sequence[ArrayLike]]] = None, labels: Optional[ArrayLike] = None,
                 start_positions: Optional[ArrayLike] = None, end_positions: Optional[ArrayLike] = None,
                 use_cache: Optional[bool] = None, output_attentions: Optional[bool] = None,
                 output_hidden_states: Optional[bool] = None, return_dict: Optional[bool] = None,
                 skip_padding: Optional[bool] = None, logits_rows: Optional[Sequence[int]] = None) -> ModelOutput: ...
    forward = __call__
    def generate(self, input_ids: ArrayLike, attention_mask: Optional[ArrayLike] = None,
                 max_new_tokens: Optional[int] = None, max_length: Optional[int] = None, do_sample: bool = False,
                 temperature: float = 1.0, top_k: int = 50, top_p: float = 1.0, eos_token_id: Optional[int] = None,
                 pad_token_id: Optional[int] = None, seed: int = 0, **kwargs: Any) -> Any: ...
    @property
    def dtype(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def compute_info(self) -> Dict[str, Any]: ...
    def eval(self) -> "RemBertPreTrainedModel": ...

class RemBertModel(RemBertPreTrainedModel): ...
class RemBertForMaskedLM(RemBertPreTrainedModel): ...
class RemBertForCausalLM(RemBertPreTrainedModel): ...
class RemBertForSequenceClassification(RemBertPreTrainedModel): ...
class RemBertForMultipleChoice(RemBertPreTrainedModel): ...
class RemBertForTokenClassification(RemBertPreTrainedModel): ...
class RemBertForQuestionAnswering(RemBertPreTrainedModel): ...

AutoModel = RemBertModel
AutoModelForMaskedLM = RemBertForMaskedLM
AutoModelForCausalLM = RemBertForCausalLM
AutoModelForSequenceClassification = RemBertForSequenceClassification
AutoModelForMultipleChoice = RemBertForMultipleChoice
AutoModelForTokenClassification = RemBertForTokenClassification
AutoModelForQuestionAnswering = RemBertForQuestionAnswering

class Pipeline:
    task: str
    model: RemBertPreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

def pipeline(task: Literal["fill-mask", "text-classification", "sentiment-analysis", "token-classification", "ner",
                           "question-answering", "feature-extraction", "text-generation"],
             model: Union[str, RemBertPreTrainedModel, None] = None,
             tokenizer: Union[str, PreTrainedTokenizerBase, None] = None, dtype: DTypeName = None,
             torch_dtype: DTypeName = None, device: Any = None, use_fast: bool = True,
             **kwargs: Any) -> Pipeline: ...

def train(model: str, task: Literal["text-classification", "token-classification", "question-answering", "fill-mask",
                                    "multiple-choice", "causal-lm"],
          train_file: str, output_dir: str, eval_file: Optional[str] = None, **options: Any) -> Dict[str, Any]: ...

TaskName = Literal["text-classification", "token-classification", "question-answering", "fill-mask",
                   "multiple-choice", "causal-lm"]

class TrainingArguments:
    output_dir: str
    num_train_epochs: float
    max_steps: int
    per_device_train_batch_size: int
    per_device_eval_batch_size: int
    learning_rate: float
    lr_scheduler_type: str
    warmup_ratio: float
    warmup_steps: int
    weight_decay: float
    adam_beta1: float
    adam_beta2: float
    adam_epsilon: float
    max_grad_norm: float
    gradient_accumulation_steps: int
    seed: int
    logging_steps: int
    save_steps: int
    save_strategy: Literal["steps", "no"]
    eval_steps: Optional[int]
    eval_strategy: Literal["no", "steps"]
    bf16: bool
    resume_from_checkpoint: Optional[str]
    max_length: int
    max_tokens_per_batch: int
    drop_long_rows: bool
    dropout: Optional[float]
    mlm_probability: float
    threads: int
    def __init__(self, output_dir: str, num_train_epochs: float = 3.0, max_steps: int = -1,
                 per_device_train_batch_size: int = 8, per_device_eval_batch_size: int = 8,
                 learning_rate: float = 5e-5, lr_scheduler_type: str = "linear", warmup_ratio: float = 0.0,
                 warmup_steps: int = 0, weight_decay: float = 0.0, adam_beta1: float = 0.9, adam_beta2: float = 0.999,
                 adam_epsilon: float = 1e-8, max_grad_norm: float = 1.0, gradient_accumulation_steps: int = 1,
                 seed: int = 42, logging_steps: int = 500, save_steps: int = 500, save_strategy: str = "steps",
                 eval_steps: Optional[int] = None, eval_strategy: str = "no", bf16: bool = False,
                 resume_from_checkpoint: Optional[str] = None, max_length: int = 0, max_tokens_per_batch: int = 0,
                 drop_long_rows: bool = False, dropout: Optional[float] = None, mlm_probability: float = 0.15,
                 threads: int = 0) -> None: ...
    def to_dict(self) -> Dict[str, Any]: ...

class TrainOutput(NamedTuple):
    global_step: int
    training_loss: float
    metrics: Dict[str, float]

class Trainer:
    model: Any
    task: TaskName
    args: TrainingArguments
    state: Dict[str, Any]
    def __init__(self, model: Union[str, RemBertPreTrainedModel, None] = None,
                 args: Optional[TrainingArguments] = None,
                 train_dataset: Union[str, Sequence[Mapping[str, Any]], None] = None,
                 eval_dataset: Union[str, Sequence[Mapping[str, Any]], None] = None, task: Optional[TaskName] = None,
                 tokenizer: Any = None, data_collator: None = None, compute_metrics: None = None,
                 processing_class: Any = None) -> None: ...
    def train(self, resume_from_checkpoint: Optional[str] = None) -> TrainOutput: ...
    def evaluate(self, eval_dataset: Union[str, Sequence[Mapping[str, Any]], None] = None) -> Dict[str, float]: ...
    def save_model(self, output_dir: Optional[str] = None) -> None: ...
