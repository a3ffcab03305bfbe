"""rembert.dask on a LocalCluster of two worker processes (127.0.0.1): the output files hold exactly what the plain
pipeline gives in this process (same library, same texts, one text per native call: the same floats), also after
a worker is killed in the middle of a job; and bad inputs fail naming the file or field."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (python3-distributed)")

import rembert  # noqa: E402
import rembert.dask  # noqa: E402
from conftest import FIXTURES, TRAINED_LM, read_jsonl  # noqa: E402

LANGID = FIXTURES / "trained" / "langid"
BASE = FIXTURES / "models" / "base"


def cluster(n=2):
    return distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=None)


@pytest.fixture(scope="module")
def client():
    with cluster() as c, distributed.Client(c) as cl:
        yield cl


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


@pytest.fixture(scope="module")
def classify_corpus(tmp_path_factory):
    """600 records: langid's first 200 test texts three times, with ids, and a blank line (counted, skipped)."""
    texts = [r["text"] for r in read_jsonl(LANGID / "test.jsonl")[:200]] * 3
    path = tmp_path_factory.mktemp("corpus") / "langid.jsonl"
    write_jsonl(path, [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)])
    with open(path, "a") as f:
        f.write("\n")
    return str(path), texts


def expected(task, model, path, texts, ids=True, **options):
    """The records rembert.dask should write, from the plain pipeline in this process (one compute thread, as
    the workers run)."""
    threads = rembert.get_num_threads()
    rembert.set_num_threads(1)
    try:
        pipe = rembert.pipeline(rembert.dask.TASKS[task], model=str(model), dtype="auto")
        records = []
        for line, text in enumerate(texts):
            record = {"file": path, "line": line}
            if ids:
                record["id"] = f"r{line}"
            limit = pipe.model.config.max_position_embeddings  # the fixtures' tokenizers allow as much or more
            if task == "classify":
                record.update(pipe(text, truncation=True, max_length=limit)[0])
            elif task == "embed":
                record["embedding"] = pipe(text, truncation=True, max_length=limit,
                                           pooling=options.get("pooling", "mean"))
            else:
                record["predictions"] = pipe(text, top_k=options.get("top_k", 5))
            records.append(record)
        return records
    finally:
        rembert.set_num_threads(threads)


@pytest.fixture(scope="module")
def classify_expected(classify_corpus):
    path, texts = classify_corpus
    return expected("classify", LANGID, path, texts)


def test_classify_matches_a_single_process_run(client, classify_corpus, classify_expected, tmp_path):
    path, texts = classify_corpus
    summary = rembert.dask.run("classify", LANGID, path, tmp_path, client=client, batch_size=16,
                               partition_size=100, progress=False)
    assert summary["records"] == len(texts) and summary["partitions"] == 6 and summary["workers"] == 2
    assert sorted(os.listdir(tmp_path)) == [f"part-{i:05d}.jsonl" for i in range(6)]
    assert rembert.dask.read_output(tmp_path) == classify_expected


def test_embed_and_fill_mask_match_a_single_process_run(client, tmp_path):
    langid = [r["text"] for r in read_jsonl(LANGID / "test.jsonl")]
    texts = langid[:24] + [max(langid, key=len)]  # the last one is longer than base's 64 positions: truncated
    path = write_jsonl(tmp_path / "texts.jsonl", [{"text": t} for t in texts])
    rembert.dask.run("embed", BASE, path, tmp_path / "embed", client=client, batch_size=5, partition_size=7,
                     pooling="cls", progress=False)
    got = rembert.dask.read_output(tmp_path / "embed")
    assert got == expected("embed", BASE, path, texts, ids=False, pooling="cls")
    assert len(got[0]["embedding"]) == json.loads((BASE / "config.json").read_text())["hidden_size"]

    masked = [r["text"] for r in read_jsonl(TRAINED_LM / "test_fill_mask.jsonl")[:24]]
    path = write_jsonl(tmp_path / "masked.jsonl", [{"text": t} for t in masked])
    rembert.dask.run("fill-mask", TRAINED_LM, path, tmp_path / "fill", client=client, batch_size=4,
                     partition_size=10, top_k=3, progress=False)
    assert rembert.dask.read_output(tmp_path / "fill") == expected("fill-mask", TRAINED_LM, path, masked,
                                                                    ids=False, top_k=3)


def test_command_line(client, classify_corpus, classify_expected, tmp_path):
    path, _ = classify_corpus
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-m", "rembert.dask", "--task", "classify", "--model", str(LANGID),
                           "--input", path, "--output", str(tmp_path), "--scheduler", client.scheduler.address,
                           "--partition-size", "200"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["records"] == len(classify_expected)
    assert "3/3 partitions" in done.stderr  # the progress line
    assert rembert.dask.read_output(tmp_path) == classify_expected


def executing_keys(dask_worker):
    return [str(getattr(task, "key", task)) for task in dask_worker.state.executing]


def test_a_killed_worker_is_replaced_and_the_output_is_complete(classify_corpus, classify_expected, tmp_path):
    path, texts = classify_corpus
    partition_size = 25  # 24 partitions of tens of milliseconds each: the kill lands in the middle of one
    with cluster() as c, distributed.Client(c) as cl:
        result, errors = {}, []

        def job():
            try:
                result.update(rembert.dask.run("classify", LANGID, path, tmp_path, client=cl, batch_size=4,
                                               partition_size=partition_size, progress=False))
            except Exception as e:  # surfaced by the assertions below
                errors.append(e)

        before = cl.run(os.getpid)  # {worker address: pid}
        victim = sorted(before)[0]
        thread = threading.Thread(target=job)
        thread.start()
        deadline = time.monotonic() + 120
        running = []
        # Kill the victim while it is executing a partition (asked of the worker itself, just before the kill).
        while thread.is_alive() and time.monotonic() < deadline:
            if os.path.exists(tmp_path) and len([f for f in os.listdir(tmp_path) if f.endswith(".jsonl")]) >= 3:
                running = cl.run(executing_keys, workers=[victim]).get(victim, [])
                if any(k.startswith("rembert-classify-") for k in running):
                    os.kill(before[victim], signal.SIGKILL)
                    break
            time.sleep(0.002)
        assert running, "the victim worker never ran a partition while the job was on"
        thread.join(180)
        assert not thread.is_alive() and not errors, errors
        assert set(cl.run(os.getpid).values()) != set(before.values())  # the killed worker is gone (its nanny starts another)
        # The scheduler's own record: the partition the victim was running was sent to it, then rerun elsewhere.
        story = cl.run_on_scheduler(lambda dask_scheduler: [
            (e[1], e[2]) for e in dask_scheduler.story(*running)])
    # e.g. ... queued->processing, processing->released (the worker died), ..., queued->processing, processing->memory
    lost = story.index(("processing", "released")) if ("processing", "released") in story else None
    assert lost is not None and ("processing", "memory") in story[lost:], story
    assert result["records"] == len(texts) and result["partitions"] == len(texts) // partition_size
    assert sorted(os.listdir(tmp_path)) == [f"part-{i:05d}.jsonl" for i in range(result["partitions"])]  # no temporaries
    got = rembert.dask.read_output(tmp_path)
    assert sorted((r["file"], r["line"]) for r in got) == [(path, i) for i in range(len(texts))]  # each once
    assert got == classify_expected


def test_bad_inputs(client, tmp_path):
    with pytest.raises(ValueError, match="unknown task 'summarize'"):
        rembert.dask.run("summarize", LANGID, str(tmp_path / "x.jsonl"), tmp_path / "out", client=client)
    missing = str(tmp_path / "missing.jsonl")
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        rembert.dask.run("classify", LANGID, missing, tmp_path / "out", client=client)
    with pytest.raises(FileNotFoundError, match=r"no input file matches .*nothing-\*\.jsonl"):
        rembert.dask.run("classify", LANGID, str(tmp_path / "nothing-*.jsonl"), tmp_path / "out", client=client)
    # The first record is checked on the client; the others where they are read, by the workers.
    first = write_jsonl(tmp_path / "first.jsonl", [{"body": "x"}])
    with pytest.raises(ValueError, match=r"first\.jsonl, line 0: no field 'text'.*\['body'\]"):
        rembert.dask.run("classify", LANGID, first, tmp_path / "out", client=client)
    later = write_jsonl(tmp_path / "later.jsonl", [{"text": "fine"}, {"text": "fine"}, {"body": "x"}])
    with pytest.raises(ValueError, match=r"later\.jsonl, line 2: no field 'text'"):
        rembert.dask.run("classify", LANGID, later, tmp_path / "out", client=client, progress=False)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine"}\n{"text": \n')
    with pytest.raises(ValueError, match=r"broken\.jsonl, line 1: not a JSON record"):
        rembert.dask.run("classify", LANGID, str(broken), tmp_path / "out", client=client, progress=False)
    not_text = write_jsonl(tmp_path / "number.jsonl", [{"text": 3}])
    with pytest.raises(ValueError, match="field 'text' is int, not a string"):
        rembert.dask.run("classify", LANGID, not_text, tmp_path / "out", client=client)
    no_mask = write_jsonl(tmp_path / "no-mask.jsonl", [{"text": "a [MASK]."}, {"text": "no mask"}])
    with pytest.raises(ValueError, match=r"no-mask\.jsonl, line 1: fill-mask failed: .*MASK"):
        rembert.dask.run("fill-mask", TRAINED_LM, no_mask, tmp_path / "out", client=client, progress=False)
    ok = write_jsonl(tmp_path / "ok.jsonl", [{"text": "fine"}])
    with pytest.raises(Exception, match="no-such-model"):
        rembert.dask.run("classify", tmp_path / "no-such-model", ok, tmp_path / "out", client=client)


HAVE_PARQUET = bool(importlib.util.find_spec("pyarrow") or importlib.util.find_spec("fastparquet"))


@pytest.mark.skipif(HAVE_PARQUET, reason="a Parquet reader is installed")
def test_parquet_without_a_reader_names_the_missing_package(client, tmp_path):
    (tmp_path / "corpus.parquet").write_bytes(b"PAR1")
    with pytest.raises(ImportError, match="pyarrow or fastparquet"):
        rembert.dask.run("classify", LANGID, str(tmp_path / "corpus.parquet"), tmp_path / "out", client=client)


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow is not installed")
def test_parquet_matches_a_single_process_run(client, classify_corpus, classify_expected, tmp_path):
    import pandas as pd

    path, texts = classify_corpus
    parquet = str(tmp_path / "corpus.parquet")
    pd.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "text": texts}).to_parquet(parquet)
    rembert.dask.run("classify", LANGID, parquet, tmp_path / "out", client=client, progress=False)
    want = [dict(r, file=parquet) for r in classify_expected]
    assert rembert.dask.read_output(tmp_path / "out") == want
