"""No copies across the boundary: numpy inputs are read in place, outputs are views of the library's buffers, torch
inputs give torch outputs sharing that memory; and calls from several threads at once (the GIL is released) agree."""
import threading

import numpy as np
import pytest

import rembert
from rembert import _rembert
from conftest import TRAINED_LM


@pytest.fixture(scope="module")
def model():
    return rembert.AutoModelForMaskedLM.from_pretrained(str(TRAINED_LM))


def address(array):
    return array.__array_interface__["data"][0]


def test_numpy_inputs_are_read_in_place():
    ids = np.array([[2, 17, 4, 3]], dtype=np.int64)
    assert _rembert._input_address(ids) == address(ids)
    ids32 = ids.astype(np.int32)
    assert _rembert._input_address(ids32) == address(ids32)  # int32 is read as is too
    strided = np.array([[2, 0, 17, 0, 4, 0, 3, 0]], dtype=np.int64)[:, ::2]
    assert _rembert._input_address(strided) != address(strided)  # not contiguous: one copy, made contiguous
    swapped = ids.astype(">i8")
    assert _rembert._input_address(swapped) != address(swapped)  # big-endian: one copy in native order


def test_copied_inputs_give_the_same_outputs(model):
    ids = np.array([[2, 17, 4, 3]], dtype=np.int64)
    expected = model(input_ids=ids).logits
    strided = np.array([[2, 0, 17, 0, 4, 0, 3, 0]], dtype=np.int64)[:, ::2]
    for variant in (ids.astype(np.int32), ids.astype(">i8"), strided, ids.tolist()):
        np.testing.assert_array_equal(model(input_ids=variant).logits, expected)


def test_outputs_are_views_of_the_library_buffers(model):
    out = model(input_ids=np.array([[2, 17, 4, 3]]))
    assert not out.logits.flags.owndata and type(out.logits.base).__name__ == "PyCapsule"
    assert out.logits.flags.c_contiguous and out.logits.flags.writeable


def test_torch_in_torch_out(model):
    torch = pytest.importorskip("torch", reason="Debian's python3-torch")
    ids = torch.tensor([[2, 17, 4, 3]])
    out = model(input_ids=ids, output_hidden_states=True)
    assert isinstance(out.logits, torch.Tensor) and out.logits.dtype == torch.float32
    assert all(isinstance(h, torch.Tensor) for h in out.hidden_states)
    from rembert import _convert

    array = np.zeros((2, 3), dtype=np.float32)
    assert np.shares_memory(_convert.to_torch(array).numpy(), array)  # torch.from_numpy: no copy
    assert np.shares_memory(_convert.to_numpy(ids), ids.numpy())
    np.testing.assert_array_equal(out.logits.numpy(), model(input_ids=ids.numpy()).logits)


def test_threads_run_at_once_and_agree(model):
    ids = np.array([[2, 17, 4, 3, 21, 13, 3]])
    expected = model(input_ids=ids).logits
    results = [None] * 4

    def work(i):
        results[i] = model(input_ids=ids).logits

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)
