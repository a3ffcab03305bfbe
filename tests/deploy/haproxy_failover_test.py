#!/usr/bin/python3
"""Two rembert-server replicas behind HAProxy (deploy/haproxy.cfg, its ports substituted) under load: first a
steady phase (no failure, SECONDS/2), the baseline; then the failover phase (SECONDS): one replica is SIGKILLed
and restarted, then the other is stopped gracefully (SIGTERM) and restarted. Every request must get a
200 whose body is the single-request answer for its input: no error, no 5xx, nothing lost.

  haproxy_failover_test.py SERVER_BINARY MODEL_DIR HAPROXY_CFG [SECONDS]

Run by ctest (tests/CMakeLists.txt); prints the figures (requests, errors, retries, req/s, p50/p99). Only the
standard library: it runs under Debian's /usr/bin/python3.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TEXTS = [
    "The weather is lovely today and we are going to the beach.",
    "Le chat dort sur le canapé depuis ce matin.",
    "Der Zug nach Berlin hat heute zwei Stunden Verspätung.",
    "El mercado abre los domingos por la mañana.",
    "Il treno per Roma parte alle otto e mezza.",
    "O livro que comprei ontem é muito interessante.",
]
CLIENTS = 16
TIMEOUT = 60  # seconds, for any one request or start-up: the machine may be loaded


def skip(message):
    # The markers scripts/check-skips.sh reads (as gtest prints them): a skip here is an install step missed.
    print(f"haproxy_failover_test.py: Skipped\n{message}\n[  SKIPPED ] haproxy_failover")
    sys.exit(77)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=TIMEOUT):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class Replica:
    def __init__(self, name, binary, model, port, workdir):
        self.name, self.binary, self.model, self.port, self.workdir = name, binary, model, port, workdir
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        log = open(os.path.join(self.workdir, f"{self.name}_{self.starts}.log"), "w")
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [self.binary, "--model", self.model, "--threads", "1", "--host", "127.0.0.1", "--port", str(self.port),
             "--drain-seconds", "2"], stdout=log, stderr=subprocess.STDOUT, env=env)

    def wait_healthy(self):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"replica {self.name} exited with {self.proc.returncode} while starting")
            try:
                if request(self.port, "GET", "/health", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"replica {self.name} not healthy after {TIMEOUT} s")

    def stop(self, sig):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=TIMEOUT)


def haproxy_config(template, front, port_a, port_b):
    """The template with its frontend and replica addresses replaced; each must be there exactly once."""
    text = open(template).read()
    for old, new in (("bind *:8080", f"bind 127.0.0.1:{front}"), ("127.0.0.1:8081", f"127.0.0.1:{port_a}"),
                     ("127.0.0.1:8082", f"127.0.0.1:{port_b}")):
        if text.count(old) != 1:
            raise RuntimeError(f"{template}: expected '{old}' exactly once, found it {text.count(old)} times")
        text = text.replace(old, new)
    return text


class Load:
    """CLIENTS threads, each on its own keep-alive connection to the frontend, POSTing /predict until stopped."""

    def __init__(self, port, expected):
        self.port, self.expected = port, expected
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.latencies, self.failures, self.statuses = [], [], {}

    def client(self, c):
        conn = None
        i = c
        while not self.stop.is_set():
            text = TEXTS[i % len(TEXTS)]
            i += 1
            t0 = time.monotonic()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
                conn.request("POST", "/predict", body=json.dumps({"inputs": text}),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                status, body = r.status, r.read()
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                status, body = 0, repr(e).encode()
                conn = None
            elapsed = time.monotonic() - t0
            with self.lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self.latencies.append(elapsed)
                good = status == 200 and json.loads(body) == self.expected[text]
                if not good:
                    self.failures.append(f"at {t0 - self.t0:.2f} s: {status} {body[:200]!r} for {text!r}")

    def run(self):
        self.threads = [threading.Thread(target=self.client, args=(c,)) for c in range(CLIENTS)]
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        self.seconds = time.monotonic() - self.t0


def report(phase, load, lb_log, log_from):
    """Prints a phase's figures; returns its error count. Retries are counted in HAProxy's log from byte log_from
    (where the log ended when the phase began)."""
    n = len(load.latencies)
    with open(lb_log) as f:
        f.seek(log_from)
        log_text = f.read()
    # httplog: ".../srv_conn/retries" before the queue figures; "+N" when the retry was redispatched.
    retried = sum(1 for m in re.finditer(r" \d+/\d+/\d+/\d+/\+?(\d+) \d+/\d+ \"", log_text) if int(m.group(1)) > 0)
    errors = len(load.failures)
    fivexx = sum(count for status, count in load.statuses.items() if status >= 500)
    print(f"{phase}: {n} requests from {CLIENTS} keep-alive clients in {load.seconds:.1f} s "
          f"({n / load.seconds:.0f} req/s), {errors} errors, {fivexx} 5xx, {retried} retried by HAProxy, "
          f"latency p50 {percentile(load.latencies, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(load.latencies, 0.99) * 1000:.1f} ms; statuses {load.statuses}")
    return errors


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    binary, model, template = sys.argv[1:4]
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 12
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
    if not haproxy:
        skip("haproxy is not installed (apt-get install haproxy; scripts/install-deps.sh does)")
    workdir = tempfile.mkdtemp(prefix="rembert_failover_")
    front, port_a, port_b = free_port(), free_port(), free_port()
    a = Replica("A", binary, model, port_a, workdir)
    b = Replica("B", binary, model, port_b, workdir)
    lb = None
    try:
        a.start()
        b.start()
        a.wait_healthy()
        b.wait_healthy()
        # The single-request answers, straight from a replica.
        expected = {t: json.loads(request(port_a, "POST", "/predict", {"inputs": t})[1]) for t in TEXTS}
        cfg = os.path.join(workdir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(haproxy_config(template, front, port_a, port_b))
        lb_log = os.path.join(workdir, "haproxy.log")
        lb = subprocess.Popen([haproxy, "-f", cfg, "-db"], stdout=open(lb_log, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                if request(front, "GET", "/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if lb.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("haproxy did not start: " + open(lb_log).read())
            time.sleep(0.05)
        time.sleep(1)  # both replicas through their first checks

        steady, log_from = Load(front, expected), os.path.getsize(lb_log)
        steady.run()
        time.sleep(seconds / 2)
        steady.finish()
        report("steady", steady, lb_log, log_from)
        if steady.failures:
            print("steady: FAILED: " + "\n  ".join(steady.failures[:5]))
            return 1

        load, log_from = Load(front, expected), os.path.getsize(lb_log)
        load.run()
        events = []

        def note(what):
            events.append(f"{time.monotonic() - load.t0:5.1f} s  {what}")

        time.sleep(seconds * 0.15)
        a.stop(signal.SIGKILL)
        note("SIGKILL replica A")
        time.sleep(seconds * 0.1)
        a.start()
        note("replica A restarting")
        a.wait_healthy()
        note("replica A healthy")
        time.sleep(1.0)  # HAProxy's rise 2 at 200 ms, with margin: A takes traffic again
        note("SIGTERM replica B")
        code = b.stop(signal.SIGTERM)
        note(f"replica B exited with {code}")
        if code != 0:
            raise RuntimeError(f"replica B exited with {code} after SIGTERM, not 0")
        b.start()
        note("replica B restarting")
        b.wait_healthy()
        note("replica B healthy")
        remaining = seconds - (time.monotonic() - load.t0)
        time.sleep(max(remaining, 1.5))
        load.finish()
        note("load stopped")

        n = len(load.latencies)
        print("\n".join(events))
        errors, log_text = report("failover", load, lb_log, log_from), open(lb_log).read()
        if errors:
            print("failover: FAILED: " + "\n  ".join(load.failures[:5]) + f"\n(logs of the replicas and HAProxy in {workdir})")
            print("haproxy log (last lines):\n" + "\n".join(log_text.splitlines()[-20:]))
            return 1
        if n < CLIENTS:
            print("failover: FAILED: almost no request went through")
            return 1
        print("failover: passed")
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    finally:
        for p in (lb, a.proc, b.proc):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


if __name__ == "__main__":
    sys.exit(main())
