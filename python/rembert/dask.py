"""Batch jobs on Dask: embed, classify or fill-mask a JSON Lines / Parquet corpus with dask.distributed.

    import rembert.dask
    summary = rembert.dask.run("classify", "path/to/model", "corpus-*.jsonl", "out/", client=client)

The model is loaded once per worker process by a worker plugin (RembertPlugin); the input is split into partitions
(line ranges of JSON Lines files, whole Parquet files), one Dask task per partition; each task runs the worker's
pipeline over its records batch_size at a time and writes output_dir/part-NNNNN.jsonl (to a temporary name first,
then os.replace), so a task that Dask reruns after a lost worker rewrites the same file with the same lines.

Each output line: {"file": input path, "line": 0-based line (JSON Lines) or row (Parquet), ["id": the record's
id_field when it has one,] then the result}: "embedding" (a list of float32 values as Python floats),
"label" and "score" (text-classification's best label), or "predictions" (fill-mask's top_k, as the pipeline
returns them: a list of dicts, or a list of such lists for a text with several masks).

Command line: python3 -m rembert.dask --task classify --model DIR --input corpus.jsonl --output out/
"""
import argparse
import glob as _glob
import hashlib
import importlib.util
import json
import os
import sys
import time
import uuid

try:
    import distributed
except ImportError as e:  # only this module needs Dask; `import rembert` works without it
    raise ImportError("rembert.dask needs dask.distributed: apt-get install python3-distributed "
                      "(or pip install distributed)") from e

TASKS = {"embed": "feature-extraction", "classify": "text-classification", "fill-mask": "fill-mask"}
_PARQUET_SUFFIXES = (".parquet", ".pq")


class RembertPlugin(distributed.WorkerPlugin):
    """Loads a rembert pipeline once in each worker process (also in workers that join or restart later: the
    scheduler replays registered plugins) and keeps it as self.pipeline for the tasks run there."""

    def __init__(self, task, model, dtype="auto", threads=1):
        model = os.fspath(model)
        # A local folder as an absolute path (the workers need not share the client's working directory).
        self.model = os.path.abspath(model) if os.path.isdir(model) else model
        self.task, self.dtype, self.threads = task, dtype, int(threads)
        self.pipeline = None
        key = json.dumps([task, self.model, dtype, self.threads])
        self.name = "rembert-" + hashlib.sha1(key.encode()).hexdigest()[:16]

    def setup(self, worker):
        import rembert

        rembert.set_num_threads(self.threads)  # process-wide: the task threads inherit it
        self.pipeline = rembert.pipeline(TASKS[self.task], model=self.model, dtype=self.dtype)

    def __getstate__(self):  # ship the settings, never a loaded model
        state = dict(self.__dict__)
        state["pipeline"] = None
        return state


# ---- input: partitions


def _input_files(input):
    """The files named by `input`: a path, a glob, or a list of either; sorted within each glob."""
    files = []
    for item in [input] if isinstance(input, (str, os.PathLike)) else list(input):
        item = os.fspath(item)
        if _glob.has_magic(item):
            matches = sorted(_glob.glob(item))
            if not matches:
                raise FileNotFoundError(f"no input file matches {item!r}")
            files += matches
        elif not os.path.isfile(item):
            raise FileNotFoundError(f"input file not found: {item!r}")
        else:
            files.append(item)
    if not files:
        raise ValueError("no input files given")
    return files


def _check_parquet_reader():
    if not (importlib.util.find_spec("pyarrow") or importlib.util.find_spec("fastparquet")):
        raise ImportError("reading Parquet needs pyarrow or fastparquet (pandas reads Parquet with them); "
                          "neither is installed: pip install pyarrow")


def _jsonl_partitions(path, partition_size, text_field):
    """Byte ranges of `path` holding partition_size records (non-blank lines) each, with their first line number:
    the client only counts lines, the workers parse them. Checks the first record's text field early."""
    parts, start, first_line, records, checked = [], 0, 0, 0, False
    offset = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f):
            if line.strip():
                if not checked:
                    _text(_json(line, path, number), text_field, path, number)
                    checked = True
                if records == partition_size:
                    parts.append(dict(kind="jsonl", path=path, start=start, end=offset, first_line=first_line,
                                      records=records))
                    start, first_line, records = offset, number, 0
                records += 1
            offset += len(line)
    if records:
        parts.append(dict(kind="jsonl", path=path, start=start, end=offset, first_line=first_line, records=records))
    return parts


def partitions(input, partition_size=1000, text_field="text"):
    """The partitions of `input`, in order: JSON Lines files in ranges of partition_size records, Parquet files
    whole ("records" is None for them: counting the rows would read the files on the client)."""
    if partition_size < 1:
        raise ValueError(f"partition_size must be at least 1, got {partition_size}")
    parts = []
    for path in _input_files(input):
        if path.lower().endswith(_PARQUET_SUFFIXES):
            _check_parquet_reader()
            parts.append(dict(kind="parquet", path=path, records=None))
        else:
            parts += _jsonl_partitions(path, partition_size, text_field)
    for index, part in enumerate(parts):
        part["index"] = index
        part["source"] = os.path.abspath(part["path"])  # read there: workers need not share the client's cwd
    return parts


def _json(line, path, number):
    try:
        return json.loads(line)
    except ValueError as e:
        raise ValueError(f"{path}, line {number}: not a JSON record: {e}") from None


def _text(record, text_field, path, line):
    if not isinstance(record, dict) or text_field not in record:
        fields = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise ValueError(f"{path}, line {line}: no field {text_field!r} in the record (it has {fields})")
    text = record[text_field]
    if not isinstance(text, str):
        raise ValueError(f"{path}, line {line}: field {text_field!r} is {type(text).__name__}, not a string")
    return text


def _read(part, text_field, id_field):
    """[(line, text, id or None)] of one partition."""
    if part["kind"] == "parquet":
        import pandas as pd

        frame = pd.read_parquet(part["source"])
        if text_field not in frame.columns:
            raise ValueError(f"{part['path']}: no column {text_field!r} (it has {list(frame.columns)})")
        ids = frame[id_field].tolist() if id_field in frame.columns else [None] * len(frame)
        return [(row, _text({text_field: t}, text_field, part["path"], row), i)
                for row, (t, i) in enumerate(zip(frame[text_field].tolist(), ids))]
    with open(part["source"], "rb") as f:
        f.seek(part["start"])
        data = f.read(part["end"] - part["start"])
    rows = []
    for number, line in enumerate(data.split(b"\n"), start=part["first_line"]):
        if line.strip():
            record = _json(line, part["path"], number)
            rows.append((number, _text(record, text_field, part["path"], number), record.get(id_field)))
    return rows


# ---- the work of one partition


def apply(pipeline, task, texts, options):
    """The task's results for a batch of texts with a loaded pipeline, as the output's result fields. embed and
    classify truncate long texts to what the model takes (its tokenizer's model_max_length may be larger)."""
    if task in ("embed", "classify"):
        limit = min(pipeline.tokenizer.model_max_length, pipeline.model.config.max_position_embeddings)
        results = pipeline(list(texts), truncation=True, max_length=limit, **options)
        return [{"embedding": v} for v in results] if task == "embed" else [dict(r) for r in results]
    # fill-mask one text at a time: the pipeline unwraps a list of one text
    return [{"predictions": pipeline(t, **options)} for t in texts]


def _one(pipeline, task, options, path, row):
    """One record's result, for a batch that failed: the error names the record's file and line."""
    line, text, _ = row
    try:
        return apply(pipeline, task, [text], options)[0]
    except Exception as e:
        kind = ValueError if isinstance(e, ValueError) else RuntimeError  # the library's rejections are ValueError
        raise kind(f"{path}, line {line}: {task} failed: {e}") from e


def _run_partition(part, plugin_name, task, options, output_dir, text_field, id_field, batch_size):
    """Writes one partition's output file; returns how many records it holds. Pure: a rerun writes the same."""
    plugin = distributed.get_worker().plugins[plugin_name]
    if plugin.pipeline is None:
        raise RuntimeError(f"the worker has not loaded {plugin.model}")
    rows = _read(part, text_field, id_field)
    final = os.path.join(output_dir, f"part-{part['index']:05d}.jsonl")
    temporary = f"{final}.{uuid.uuid4().hex}.tmp"  # unique: a killed attempt's leftover never collides
    try:
        with open(temporary, "w", encoding="utf-8") as out:
            for begin in range(0, len(rows), batch_size):
                batch = rows[begin:begin + batch_size]
                try:
                    results = apply(plugin.pipeline, task, [text for _, text, _ in batch], options)
                except Exception:
                    results = [_one(plugin.pipeline, task, options, part["path"], row) for row in batch]
                for (line, _, record_id), result in zip(batch, results):
                    record = {"file": part["path"], "line": line}
                    if record_id is not None:
                        record["id"] = record_id
                    record.update(result)
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(temporary, final)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return len(rows)


# ---- the job


class _Progress:
    """A counter line on stderr: rewritten in place on a terminal, else a line at most every 2 seconds."""

    def __init__(self, partitions, records):
        self.partitions, self.records = partitions, records
        self.started = self.shown = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def update(self, done, records, final=False):
        now = time.perf_counter()
        if not (final or self.tty and now - self.shown >= 0.2 or now - self.shown >= 2):
            return
        self.shown = now
        of = f"/{self.records}" if self.records is not None else ""
        rate = records / max(now - self.started, 1e-9)
        line = f"rembert.dask: {done}/{self.partitions} partitions, {records}{of} records, {rate:.1f} records/s"
        sys.stderr.write(("\r" + line + ("\n" if final else "")) if self.tty else line + "\n")
        sys.stderr.flush()


def run(task, model, input, output_dir, text_field="text", id_field="id", batch_size=32, client=None,
        dtype="auto", threads_per_worker=1, partition_size=1000, workers=None, pooling="mean", normalize=False,
        top_k=5, progress=True):
    """Runs `task` ("embed", "classify" or "fill-mask") of `model` (a folder or hub id) over `input` (a JSON Lines
    or Parquet file, a glob, or a list of them) on Dask and writes output_dir/part-NNNNN.jsonl, one per partition
    (part files left there by an earlier job are removed first).

    client: a distributed.Client; None starts a LocalCluster on 127.0.0.1 of `workers` processes (default: the
    cores / threads_per_worker) for this job. Each worker runs one task at a time with threads_per_worker compute
    threads. embed: pooling "mean" (over the tokens) or "cls", normalize: L2-normalise. fill-mask: top_k.
    progress: a counter line on stderr. Returns {"records", "partitions", "seconds" (all of it), "load_seconds"
    (loading the model on the workers, when this cluster had not loaded it yet), "records_per_second" (after the
    loading), "workers", ...}."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {sorted(TASKS)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    options = {"embed": {"pooling": pooling, "normalize": normalize}, "classify": {},
               "fill-mask": {"top_k": top_k}}[task]
    parts = partitions(input, partition_size, text_field)
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    for stale in _glob.glob(os.path.join(_glob.escape(output_dir), "part-*.jsonl*")):
        os.remove(stale)

    own = None
    if client is None:
        workers = workers or max(1, (os.cpu_count() or 1) // max(1, threads_per_worker))
        own = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
        client = distributed.Client(own)
    try:
        started = time.perf_counter()
        plugin = RembertPlugin(task, model, dtype, threads_per_worker)
        # Registered once per cluster: a second registration under the same name would load the model again.
        if plugin.name not in client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins)):
            try:
                client.register_worker_plugin(plugin, name=plugin.name)  # loads the model on every worker
            except Exception:  # e.g. no model there: forget the plugin, or the next job would skip loading it
                client.unregister_worker_plugin(plugin.name)
                raise
        loaded = time.perf_counter()
        # pure=False: each job computes afresh (a pure key could return an earlier job's result without writing).
        # No retries=: a task's exceptions are deterministic; a lost worker's tasks are rerun by the scheduler.
        futures = [client.submit(_run_partition, part, plugin.name, task, options, os.path.abspath(output_dir),
                                 text_field, id_field, batch_size, pure=False,
                                 key=f"rembert-{task}-{part['index']:05d}-{uuid.uuid4().hex[:8]}")
                   for part in parts]
        known = [p["records"] for p in parts]
        shown = _Progress(len(parts), None if None in known else sum(known)) if progress else None
        done = records = 0
        try:
            for future in distributed.as_completed(futures):
                records += future.result()  # raises the task's exception, if any
                done += 1
                future.release()  # its output is on disk: the scheduler need not keep (or recompute) it
                if shown:
                    shown.update(done, records, final=done == len(parts))
        except BaseException:
            client.cancel(futures)  # a failed job (or Ctrl-C) stops the rest
            raise
        finished = time.perf_counter()
        for leftover in _glob.glob(os.path.join(_glob.escape(output_dir), "part-*.tmp")):
            os.remove(leftover)  # written by an attempt whose worker was killed
        return {"task": task, "records": records, "partitions": len(parts), "seconds": finished - started,
                "load_seconds": loaded - started,
                "records_per_second": records / (finished - loaded) if finished > loaded else 0.0,
                "workers": len(client.scheduler_info()["workers"]), "output_dir": output_dir}
    finally:
        if own is not None:
            client.close()
            own.close()


def read_output(output_dir):
    """The records of a finished job, in input order (part files in order, lines in order)."""
    records = []
    for path in sorted(_glob.glob(os.path.join(_glob.escape(os.fspath(output_dir)), "part-*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m rembert.dask", description=__doc__.split("\n")[0])
    p.add_argument("--task", required=True, choices=sorted(TASKS))
    p.add_argument("--model", required=True, help="model folder or hub id")
    p.add_argument("--input", required=True, nargs="+", help="JSON Lines / Parquet files or globs")
    p.add_argument("--output", required=True, help="output folder (part-NNNNN.jsonl)")
    p.add_argument("--scheduler", help="tcp://host:port of a running scheduler (default: a LocalCluster)")
    p.add_argument("--workers", type=int, help="LocalCluster worker processes (default: cores / threads)")
    p.add_argument("--threads-per-worker", type=int, default=1, help="compute threads of each worker")
    p.add_argument("--text-field", default="text")
    p.add_argument("--id-field", default="id")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--partition-size", type=int, default=1000, help="records per JSON Lines partition")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--pooling", default="mean", choices=["mean", "cls"], help="embed: how tokens are pooled")
    p.add_argument("--normalize", action="store_true", help="embed: L2-normalise the vectors")
    p.add_argument("--top-k", type=int, default=5, help="fill-mask: predictions per mask")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    client = distributed.Client(a.scheduler) if a.scheduler else None
    try:
        summary = run(a.task, a.model, a.input, a.output, text_field=a.text_field, id_field=a.id_field,
                      batch_size=a.batch_size, client=client, dtype=a.dtype, threads_per_worker=a.threads_per_worker,
                      partition_size=a.partition_size, workers=a.workers, pooling=a.pooling, normalize=a.normalize,
                      top_k=a.top_k, progress=not a.no_progress)
    finally:
        if client is not None:
            client.close()
    print(json.dumps(summary))


if __name__ == "__main__":
    # Through the importable module, not __main__: the plugin and tasks must unpickle on the workers.
    from rembert.dask import main as _main

    _main()
