"""Library failures as Python exceptions carrying the library's message."""
import numpy as np
import pytest

import rembert
from conftest import FIXTURES, TRAINED_LM


def test_missing_model_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local folder"):
        rembert.AutoModelForMaskedLM.from_pretrained(str(tmp_path / "no" / "such" / "model"))
    with pytest.raises(FileNotFoundError):
        rembert.AutoTokenizer.from_pretrained(str(tmp_path / "nothing" / "here" / "at-all"))
    with pytest.raises(FileNotFoundError, match="config.json"):
        rembert.AutoModel.from_pretrained(str(tmp_path))  # a folder without config.json
    with pytest.raises(FileNotFoundError):
        rembert.AutoTokenizer.from_pretrained(str(tmp_path))  # a folder without tokenizer files


def test_offline_hub_id_not_in_cache_is_os_error(tmp_path):
    with pytest.raises(OSError, match="not in the cache"):
        rembert.AutoModel.from_pretrained("org/not-cached", cache_dir=str(tmp_path), local_files_only=True)


def test_bad_inputs_are_value_errors():
    model = rembert.AutoModelForMaskedLM.from_pretrained(str(TRAINED_LM))
    with pytest.raises(ValueError, match="input_ids"):
        model(input_ids=np.zeros((1, 2, 3, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="out of range|vocab"):
        model(input_ids=np.array([[2, 10 ** 9, 3]]))
    with pytest.raises(ValueError, match="dtype"):
        rembert.AutoModel.from_pretrained(str(TRAINED_LM), dtype="float8")
    fill = rembert.pipeline("fill-mask", model=str(TRAINED_LM))
    with pytest.raises(ValueError, match=r"no mask_token \(\[MASK\]\) found on the input"):
        fill("no mask here")
    with pytest.raises(ValueError, match=r"the text holds `<mask>`, which is not this model's mask token: write `\[MASK\]`"):
        fill("Paris is the <mask> of France.")
    tok = rembert.AutoTokenizer.from_pretrained(str(FIXTURES / "tokenizer"))
    with pytest.raises(ValueError, match="is not a valid PaddingStrategy"):
        tok("a", padding="sideways")
