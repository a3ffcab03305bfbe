#!/usr/bin/env python3
"""Throughput of rembert.dask's classify job (records/s) on a LocalCluster of 1 and of 2 worker processes (one
compute thread each), against the plain pipeline in this process (one thread) on the same texts. The corpus: the
first --texts of langid's held-out test.jsonl, replicated --copies times. The cluster is started, and the model
loaded on its workers (a warm-up job), before the timed job; each figure is the best of --repeat runs. The last row
is 2 workers with a failure: one worker SIGKILLed once a third of the partitions are written (its nanny starts a new
worker, the plugin loads the model there, the scheduler reruns the lost partition); the output is checked complete.

  PYTHONPATH=build/python /usr/bin/python3 bench/dask_batch.py [--texts 500 --copies 4 --repeat 2]
"""
import argparse
import json
import os
import pathlib
import signal
import sys
import tempfile
import threading
import time

import distributed

import rembert
import rembert.dask

ROOT = pathlib.Path(__file__).resolve().parents[1]
LANGID = ROOT / "tests" / "fixtures" / "trained" / "langid"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--texts", type=int, default=500)
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--partition-size", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    a = p.parse_args()
    lines = (LANGID / "test.jsonl").read_text().splitlines()[:a.texts]
    texts = [json.loads(line)["text"] for line in lines] * a.copies
    work = pathlib.Path(tempfile.mkdtemp(prefix="rembert-dask-bench-"))
    corpus = work / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    print(f"corpus: {len(texts)} records ({a.texts} langid test texts x {a.copies}), load {os.getloadavg()[0]:.2f}",
          file=sys.stderr)
    warm = work / "warm.jsonl"  # a short job that loads the model on every worker before the timed ones
    warm.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts[:20]))
    figures = {"records": len(texts), "load_before": round(os.getloadavg()[0], 2)}

    rembert.set_num_threads(1)
    pipe = rembert.pipeline("text-classification", model=str(LANGID), dtype="auto")
    best = 0.0
    for _ in range(a.repeat):
        started = time.perf_counter()
        for begin in range(0, len(texts), a.batch_size):
            pipe(texts[begin:begin + a.batch_size], truncation=True)
        best = max(best, len(texts) / (time.perf_counter() - started))
    figures["in_process_records_per_s"] = round(best, 1)
    print(f"in-process, 1 thread: {best:.1f} records/s", file=sys.stderr)

    for workers in (1, 2):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            options = dict(client=client, batch_size=a.batch_size, partition_size=a.partition_size, progress=False)
            rembert.dask.run("classify", LANGID, str(warm), work / "warm", **dict(options, partition_size=5))
            best = 0.0
            for _ in range(a.repeat):
                best = max(best, rembert.dask.run("classify", LANGID, str(corpus), work / "out",
                                                  **options)["records_per_second"])
        figures[f"dask_{workers}_workers_records_per_s"] = round(best, 1)
        print(f"dask, {workers} worker(s) x 1 thread: {best:.1f} records/s", file=sys.stderr)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        options = dict(client=client, batch_size=a.batch_size, partition_size=a.partition_size, progress=False)
        rembert.dask.run("classify", LANGID, str(warm), work / "warm", **dict(options, partition_size=5))
        best = 0.0
        for attempt in range(a.repeat):
            out = work / f"killed-{attempt}"
            pids = client.run(os.getpid)
            result = {}
            job = threading.Thread(target=lambda: result.update(
                rembert.dask.run("classify", LANGID, str(corpus), out, **options)))
            job.start()
            partitions = -(-len(texts) // a.partition_size)
            while job.is_alive():
                if out.exists() and len(list(out.glob("part-*.jsonl"))) >= partitions // 3:
                    os.kill(sorted(pids.values())[0], signal.SIGKILL)
                    break
                time.sleep(0.005)
            job.join()
            got = rembert.dask.read_output(out)
            assert result["records"] == len(texts) and sorted(r["line"] for r in got) == list(range(len(texts)))
            best = max(best, result["records_per_second"])
    figures["dask_2_workers_one_killed_records_per_s"] = round(best, 1)
    print(f"dask, 2 workers, one SIGKILLed a third of the way: {best:.1f} records/s (output complete)", file=sys.stderr)
    figures["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
