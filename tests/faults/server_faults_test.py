#!/usr/bin/python3
"""rembert-server under faults, on 127.0.0.1, each case against a server of its own (the fixture models):

  flags        out-of-range timeouts fail at start, naming the flag
  disconnects  clients that close (or reset) with the body half sent, and after the request before the answer
  stream       a /generate stream closed after its first event, a plain /generate closed before its answer (each
               must stop within a few tokens), streams closed mid-way beside another client's generations
  slow         slowloris: heads and bodies sent a byte at a time (408 within --read-timeout, set from the
               environment), more of them than there are connection threads
  headers      oversized request lines and heads (414, 431; a 10 MB header line costs no memory)
  idle         more idle connections than connection threads, then a normal request
  overload     40 concurrent requests over --max-concurrent-requests 2: 200 or 429 with Retry-After, never a hang
  rss          REQUESTS (default 100000) /health requests in a row plus thousands of /embed and aborted requests:
               the server's VmRSS at the end must be within RSS_BOUND_MIB of the start

  server_faults_test.py SERVER_BINARY MODELS_DIR [CASE ...] [--requests N]   (default: every case but rss)

Throughout, a bystander client sends its own requests and every answer must be the single-request answer; the
server must never crash (it exits 0 on SIGTERM at the end), and afterwards the slots are free (in-flight 0, as
many concurrent requests as --max-concurrent-requests all answered 200). Run by ctest (tests/CMakeLists.txt,
label faults); only the standard library, so it runs under Debian's /usr/bin/python3.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

TEXTS = ["Hello world", "The weather is lovely today.", "Le chat dort sur le canapé.", "one two three four five",
         "Der Zug nach Berlin hat Verspätung.", "rembert", "a b c d e f g h", "El mercado abre los domingos."]
TIMEOUT = 30  # seconds, for any one request that must be answered (the machine may be loaded)
RSS_BOUND_MIB = 4  # growth of VmRSS allowed over the rss case (measured: see README, HTTP server, Faults)
FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print(f"  FAIL: {message}", flush=True)
    return condition


# ------------------------------------------------------------------------------------------------ raw HTTP

def connect(port, timeout=TIMEOUT):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request_bytes(method, path, body=b"", close=False, headers=""):
    if isinstance(body, str):
        body = body.encode()
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{'Connection: close' + chr(13) + chr(10) if close else ''}{headers}"
            "\r\n").encode() + body


def read_response(s):
    """(status, headers, body) of one response on socket s, or None when the connection closed first."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            while not body.endswith(b"0\r\n\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                body += chunk
            out, pos = b"", 0
            while True:
                eol = body.find(b"\r\n", pos)
                if eol < 0:
                    break
                n = int(body[pos:eol], 16)
                if n == 0:
                    break
                out += body[eol + 2:eol + 2 + n]
                pos = eol + 2 + n + 2
            return status, headers, out
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                return None
            body += chunk
        return status, headers, body[:length]
    except (ConnectionError, socket.timeout, OSError):
        return None


def call(port, method, path, body=b"", timeout=TIMEOUT):
    """One request on a connection of its own: (status, headers, body), or (0, {}, b"") without an answer."""
    try:
        with connect(port, timeout) as s:
            s.sendall(request_bytes(method, path, body, close=True))
            r = read_response(s)
    except OSError:
        r = None
    return r if r else (0, {}, b"")


def embed_body(text):
    return json.dumps({"inputs": text})


def close_to(a, b, atol=1e-5):
    return len(a) == len(b) and all(abs(x - y) <= atol + 1e-5 * abs(y) for x, y in zip(a, b))


# ------------------------------------------------------------------------------------------------ the server

class Server:
    def __init__(self, binary, model, args=(), env=None):
        self.dir = tempfile.mkdtemp(prefix="rembert_faults_")
        self.out = open(os.path.join(self.dir, "stdout"), "w+")
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        environment = dict(os.environ, OMP_NUM_THREADS="1")
        environment.update(env or {})
        self.proc = subprocess.Popen([binary, "--model", model, "--host", "127.0.0.1", "--port", "0", "--threads",
                                      "1", "--drain-seconds", "0", *args], stdout=self.out, stderr=self.err,
                                     env=environment)
        self.port = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.port:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rembert-server exited while starting: {self.stderr()}")
            self.out.seek(0)
            m = re.search(r"serving .* on http://127\.0\.0\.1:(\d+)\n", self.out.read())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.02)
        if not self.port:
            raise RuntimeError(f"rembert-server did not start: {self.stderr()}")

    def sanitized(self):
        """True when the server runs under AddressSanitizer or ThreadSanitizer (its RSS then holds the sanitizer's
        quarantine and shadow memory, so the RSS bound does not apply; LeakSanitizer checks the exit instead)."""
        with open(f"/proc/{self.proc.pid}/maps") as f:
            return any(lib in f.read() for lib in ("libasan", "libtsan"))

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def status(self, field):
        """A field of /proc/PID/status in kB (VmRSS) or as a number (Threads)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return -1

    def metric(self, name):
        status, _, body = call(self.port, "GET", "/metrics")
        m = re.search(r"^" + re.escape(name) + r" (\S+)$", body.decode(), re.M)
        return float(m.group(1)) if status == 200 and m else -1.0

    def wait_idle(self, seconds=10):
        """True once no request is in flight and nothing is queued."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.metric("rembert_in_flight_requests") == 0 and self.metric("rembert_queue_size") == 0:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        """SIGTERM; checks that the server was alive until now and exits 0."""
        check(self.proc.poll() is None, f"the server died (exit {self.proc.returncode}): {self.stderr()[-2000:]}")
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = "still running 30 s after SIGTERM"
        check(code == 0, f"exit code after SIGTERM: {code}: {self.stderr()[-2000:]}")


def expected_embeddings(server):
    """Each text's /embed answer, requested alone."""
    out = {}
    for t in TEXTS:
        status, _, body = call(server.port, "POST", "/embed", embed_body(t))
        assert status == 200, body
        out[t] = json.loads(body)[0]
    return out


class Bystander(threading.Thread):
    """A client sending /embed requests on a keep-alive connection while a case runs: every 200 must be the
    single-request answer; `allowed` are the other statuses it may get (429 when the case fills the slots)."""

    def __init__(self, server, expected, allowed=(429,)):
        super().__init__(daemon=True)
        self.server, self.expected, self.allowed = server, expected, allowed
        self.stop_flag = threading.Event()
        self.ok = self.other = 0
        self.bad = []

    def run(self):
        s = None
        i = 0
        while not self.stop_flag.is_set():
            text = TEXTS[i % len(TEXTS)]
            i += 1
            try:
                if s is None:
                    s = connect(self.server.port)
                s.sendall(request_bytes("POST", "/embed", embed_body(text)))
                r = read_response(s)
            except OSError:
                r = None
            if r is None:  # the server may close an idle keep-alive connection: reconnect, ask again
                if s:
                    s.close()
                s = None
                r = call(self.server.port, "POST", "/embed", embed_body(text))
            status, _, body = r
            if status == 200 and close_to(json.loads(body)[0], self.expected[text]):
                self.ok += 1
            elif status in self.allowed:
                self.other += 1
                time.sleep(0.02)
            else:
                self.bad.append(f"{status} {body[:200]!r}")
        if s:
            s.close()

    def finish(self, name):
        self.stop_flag.set()
        self.join(TIMEOUT)
        check(not self.is_alive(), f"{name}: the bystander's request hung")
        check(not self.bad, f"{name}: bystander answers that differ from the single-request answer: {self.bad[:3]}")
        check(self.ok > 0, f"{name}: the bystander got no answer")
        print(f"  bystander: {self.ok} answers equal to the single-request answer, {self.other} 429", flush=True)


def slots_free(server, expected, slots, name):
    """In flight 0, then `slots` concurrent requests all answered 200 with the single-request answer."""
    check(server.wait_idle(), f"{name}: requests still in flight or queued after the faults")
    results = [None] * slots
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(
        k, call(server.port, "POST", "/embed", embed_body(TEXTS[k % len(TEXTS)])))) for k in range(slots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, (status, _, body) in enumerate(results):
        check(status == 200 and close_to(json.loads(body)[0], expected[TEXTS[k % len(TEXTS)]]),
              f"{name}: after the faults, concurrent request {k} got {status} {body[:200]!r}")


# ------------------------------------------------------------------------------------------------ the cases

def case_disconnects(binary, models):
    server = Server(binary, f"{models}/base", ["--max-concurrent-requests", "4", "--debug-batch-delay-ms", "100"])
    expected = expected_embeddings(server)
    bystander = Bystander(server, expected)
    bystander.start()
    body = embed_body("a request whose client goes away").encode()
    for k in range(20):
        # The body half sent, then close.
        with connect(server.port) as s:
            s.sendall(request_bytes("POST", "/embed", body)[:-len(body) // 2])
        # The whole request sent, then close (a FIN) or reset (SO_LINGER 0: an RST) before the answer.
        with connect(server.port) as s:
            s.sendall(request_bytes("POST", "/embed", body))
            if k % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        time.sleep(0.02)
    bystander.finish("disconnects")
    slots_free(server, expected, 4, "disconnects")
    server.stop()


def read_until_first_event(sock):
    """What a streaming answer sent up to its first server-sent event (or all of it, if the server closed first)."""
    data = b""
    while b"data:" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def case_stream(binary, models):
    # Every forward 20 ms: a generation of 40 tokens takes more than 0.8 s, so the disconnects land mid-way.
    server = Server(binary, f"{models}/clm", ["--max-concurrent-requests", "3", "--debug-batch-delay-ms", "20"])
    prompt = {"inputs": "Hello world", "parameters": {"max_new_tokens": 40}}
    status, _, want = call(server.port, "POST", "/generate", json.dumps(prompt))
    assert status == 200, want
    for stream in (True, False):
        kind = "stream" if stream else "plain"
        before = server.metric("rembert_batches_total")
        with connect(server.port) as s:
            s.sendall(request_bytes("POST", "/generate", json.dumps(dict(prompt, stream=stream))))
            if stream:
                data = read_until_first_event(s)
                check(b"data:" in data, f"stream: no first event: {data[:300]!r}")
            else:
                time.sleep(0.15)
        check(server.wait_idle(), f"{kind}: the generation still holds its slot after its client went away")
        time.sleep(0.2)  # a generation that did not stop would still be running its steps now
        steps = server.metric("rembert_batches_total") - before
        check(0 < steps < 30, f"{kind}: {steps:.0f} forwards after the disconnect: the generation did not stop "
                              "(40 tokens asked)")
        print(f"  {kind} /generate closed by its client: {steps:.0f} forwards run of 41", flush=True)
        status, _, got = call(server.port, "POST", "/generate", json.dumps(prompt))
        check(status == 200 and got == want, f"{kind}: the next generation got {status} {got[:200]!r}")
    _, _, metrics = call(server.port, "GET", "/metrics")
    check('route="/generate",status="499"' in metrics.decode(), "the cancelled plain /generate is not counted as 499")
    # Streams closed after their first event while another client generates: its decode steps share forwards with
    # theirs (continuous batching) until they leave, and each of its answers is still the single-request answer.
    other = json.dumps({"inputs": "The model reads", "parameters": {"max_new_tokens": 20}})
    status, _, other_want = call(server.port, "POST", "/generate", other)
    assert status == 200, other_want
    answers = []
    bystander = threading.Thread(target=lambda: answers.extend(
        call(server.port, "POST", "/generate", other) for _ in range(3)))
    bystander.start()
    for _ in range(6):
        with connect(server.port) as s:
            s.sendall(request_bytes("POST", "/generate_stream", json.dumps(prompt)))
            data = read_until_first_event(s)
            check(b"data:" in data, f"stream beside a bystander: no first event: {data[:300]!r}")
        time.sleep(0.1)
    bystander.join(TIMEOUT)
    check(len(answers) == 3 and all(a[0] == 200 and a[2] == other_want for a in answers),
          f"a generation beside streams closed mid-way: {[(a[0], a[2][:100]) for a in answers]}")
    check(server.wait_idle(), "streams closed mid-way still hold their slots")
    results = []
    threads = [threading.Thread(target=lambda: results.append(call(server.port, "POST", "/generate",
                                                                   json.dumps(prompt)))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(len(results) == 3 and all(r[0] == 200 and r[2] == want for r in results),
          f"after the disconnects, 3 concurrent generations (3 slots): {[(r[0], r[2][:100]) for r in results]}")
    server.stop()


def drip(port, first, rest, gap, results, k):
    """Sends `first`, then `rest` a byte every `gap` seconds; results[k] = (seconds until the server answered or
    closed, status or 0)."""
    t0 = time.monotonic()
    status = 0
    try:
        with connect(port) as s:
            s.sendall(first)
            for byte in rest:
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    break
                ready, _, _ = __import__("select").select([s], [], [], gap)
                if ready:
                    break
            r = read_response(s)
            status = r[0] if r else 0
    except OSError:
        pass
    results[k] = (time.monotonic() - t0, status)


def case_slow(binary, models):
    # From the environment, as every flag: a 1 s read timeout.
    server = Server(binary, f"{models}/base", ["--max-concurrent-requests", "2", "--max-client-batch-size", "400"],
                    env={"REMBERT_READ_TIMEOUT": "1", "REMBERT_WRITE_TIMEOUT": "1", "REMBERT_KEEP_ALIVE_TIMEOUT": "5"})
    expected = expected_embeddings(server)
    bystander = Bystander(server, expected)
    bystander.start()
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    endless = b"X-Slow: " + b"a" * 200 + b"\r\n"
    results = [None] * 2
    drip(server.port, head[:3], head[3:] + endless, 0.1, results, 0)
    body = request_bytes("POST", "/embed", embed_body("slow body " * 5))
    split = body.index(b"\r\n\r\n") + 4
    drip(server.port, body[:split], body[split:], 0.1, results, 1)
    for name, (seconds, status) in zip(("head", "body"), results):
        check(status == 408 and 0.8 <= seconds <= 2.5, f"slow {name}: {status} after {seconds:.2f} s (want 408 "
                                                      "after about 1 s)")
        print(f"  slow {name} a byte per 0.1 s: {status} after {seconds:.2f} s", flush=True)
    # More slow clients than connection threads (2 + 16): each is cut off within the read timeout, so a normal
    # request waits for a thread at most that long.
    n = 40
    results = [None] * n
    threads = [threading.Thread(target=drip, args=(server.port, head, endless * 10, 0.1, results, k))
               for k in range(n)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    status, _, got = call(server.port, "POST", "/embed", embed_body(TEXTS[0]))
    waited = time.monotonic() - t0
    for t in threads:
        t.join(TIMEOUT)
    check(status == 200 and close_to(json.loads(got)[0], expected[TEXTS[0]]) and waited < 3,
          f"a request behind {n} slow clients: {status} after {waited:.2f} s")
    worst = max(r[0] for r in results)
    check(all(r[1] in (408, 0) for r in results) and worst < 4,
          f"{n} slow clients: not all cut off within the read timeout: {results}")
    print(f"  {n} slowloris clients: all cut off within {worst:.2f} s; a normal request behind them answered in "
          f"{waited:.2f} s", flush=True)
    # A client that asks for an 18 MB answer and never reads: once the socket buffers are full, the write waits
    # --write-timeout (1 s) and the server closes the connection; the client then reads what was buffered, then EOF.
    with socket.socket() as reader:
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.settimeout(TIMEOUT)
        reader.connect(("127.0.0.1", server.port))
        reader.sendall(request_bytes("POST", "/embed_all", json.dumps({"inputs": ["word " * 70] * 400,
                                                                       "truncate": True})))
        time.sleep(3)
        data = b""
        try:
            while True:
                chunk = reader.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    m = re.search(rb"Content-Length: (\d+)", data)
    length = int(m.group(1)) if m else 0
    check(m and length > 10e6 and len(data) < length,
          f"a client that never reads: {len(data)} bytes of {length} reached it before the server closed")
    print(f"  a client that never reads an answer of {length / 1e6:.1f} MB: closed after {len(data) / 1e6:.1f} MB "
          "(--write-timeout 1)", flush=True)
    bystander.finish("slow")
    slots_free(server, expected, 2, "slow")
    server.stop()


def case_headers(binary, models):
    server = Server(binary, f"{models}/base")
    expected = expected_embeddings(server)
    bystander = Bystander(server, expected, allowed=())

    def refused(raw, want, name):
        with connect(server.port) as s:
            s.sendall(raw)
            r = read_response(s)
        status = r[0] if r else 0
        ok = check(status == want, f"{name}: {status}, want {want}")
        if ok:
            body = json.loads(r[2])
            check(body.get("error_type") == "Validation" and body.get("error"), f"{name}: error body {r[2]!r}")

    bystander.start()
    get = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    refused(get + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n", 431, "a 20000-byte header line")
    refused(get + b"".join(b"X-H%d: %s\r\n" % (k, b"v" * 40) for k in range(150)) + b"\r\n", 431, "150 header lines")
    refused(get + b"".join(b"X-H%d: %s\r\n" % (k, b"v" * 4000) for k in range(10)) + b"\r\n", 431, "a 40 kB head")
    refused(b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\n\r\n", 414, "a 10000-byte request line")
    # Within the limits: an 8000-byte header line and 90 header lines are answered.
    with connect(server.port) as s:
        s.sendall(get + b"X-Ok: " + b"a" * 8000 + b"\r\n" + b"".join(b"X-H%d: v\r\n" % k for k in range(88)) +
                  b"Connection: close\r\n\r\n")
        r = read_response(s)
    check(r is not None and r[0] == 200, f"a head within the limits: {r}")
    # A 10 MB header line sent as fast as the client can: 431 as soon as the line passes the limit, and the
    # server never buffers it.
    rss0 = server.status("VmRSS")
    with connect(server.port) as s:
        s.sendall(get + b"X-Flood: ")

        def flood():
            try:
                for _ in range(160):
                    s.sendall(b"a" * 65536)
            except OSError:
                pass

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        r = read_response(s)
        sender.join(TIMEOUT)
    growth = (server.status("VmRSS") - rss0) / 1024
    check(r is not None and r[0] == 431, f"a 10 MB header line: {r}")
    bound = 8 if server.sanitized() else 4  # a sanitizer's quarantine holds what the bystander's requests freed
    check(growth < bound, f"a 10 MB header line grew the server's RSS by {growth:.1f} MiB")
    print(f"  oversized heads: 414/431; a 10 MB header line: 431, RSS +{growth:.1f} MiB", flush=True)
    bystander.finish("headers")
    server.stop()


def case_idle(binary, models):
    # 2 + 16 connection threads; idle connections would hold them 30 s each without giving them up.
    server = Server(binary, f"{models}/base", ["--max-concurrent-requests", "2", "--keep-alive-timeout", "30"])
    expected = expected_embeddings(server)
    silent = [connect(server.port) for _ in range(30)]  # connected, never a byte sent
    kept = []
    for _ in range(30):  # one request answered, then idle on keep-alive
        s = connect(server.port)
        s.sendall(request_bytes("GET", "/health"))
        r = read_response(s)
        if check(r is not None and r[0] == 200, f"idle: a keep-alive connection's first request: {r}"):
            kept.append(s)
    silent += [connect(server.port) for _ in range(20)]  # now every thread holds an idle connection
    time.sleep(0.3)
    worst = 0.0
    for k in range(5):
        t0 = time.monotonic()
        status, _, got = call(server.port, "POST", "/embed", embed_body(TEXTS[k]))
        waited = time.monotonic() - t0
        worst = max(worst, waited)
        check(status == 200 and close_to(json.loads(got)[0], expected[TEXTS[k]]) and waited < 2,
              f"idle: a request behind 80 idle connections: {status} after {waited:.2f} s")
    closed = 0
    for s in silent + kept:
        s.setblocking(False)
        try:
            closed += s.recv(1) == b""
        except BlockingIOError:
            pass
        s.close()
    print(f"  80 idle connections, 18 threads: a normal request answered within {worst:.2f} s "
          f"({closed} idle connections closed to make room)", flush=True)
    slots_free(server, expected, 2, "idle")
    server.stop()


def case_overload(binary, models):
    server = Server(binary, f"{models}/base", ["--max-concurrent-requests", "2", "--debug-batch-delay-ms", "100"])
    expected = expected_embeddings(server)
    n = 40
    results = [None] * n
    t0 = time.monotonic()
    threads = [threading.Thread(target=lambda k=k: results.__setitem__(
        k, call(server.port, "POST", "/embed", embed_body(TEXTS[k % len(TEXTS)]), timeout=20))) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0
    ok = overloaded = 0
    for k, (status, headers, body) in enumerate(results):
        if status == 200:
            ok += check(close_to(json.loads(body)[0], expected[TEXTS[k % len(TEXTS)]]), f"overload: answer {k}")
        elif status == 429:
            overloaded += check(headers.get("retry-after") == "1" and
                                json.loads(body).get("error_type") == "Overloaded", f"overload: 429 {headers} {body}")
        else:
            check(False, f"overload: request {k} got {status} {body[:200]!r} (want 200 or 429)")
    check(ok >= 1 and overloaded >= 1 and ok + overloaded == n, f"overload: {ok} 200 and {overloaded} 429 of {n}")
    print(f"  {n} concurrent requests, 2 slots: {ok} x 200 (each its single-request answer), {overloaded} x 429 "
          f"with Retry-After, all in {seconds:.2f} s", flush=True)
    slots_free(server, expected, 2, "overload")
    server.stop()


def case_rss(binary, models, requests):
    server = Server(binary, f"{models}/base", env={"REMBERT_KEEP_ALIVE_MAX_REQUESTS": "500"})
    expected = expected_embeddings(server)
    health = request_bytes("GET", "/health")
    carried = set()  # requests per connection, for the connections the server closed

    def healths(count):
        s, done, on_this = None, 0, 0
        while done < count:
            if s is None:
                s, on_this = connect(server.port), 0
            s.sendall(health)
            r = read_response(s)
            assert r is not None and r[0] == 200, r
            done += 1
            on_this += 1
            if r[1].get("connection") == "close":  # the connection carried --keep-alive-max-requests
                carried.add(on_this)
                s.close()
                s = None
        if s:
            s.close()

    def embeds(count, offset):
        bad = 0
        s = None
        for k in range(count):
            text = TEXTS[(k + offset) % len(TEXTS)]
            if k % 2:  # a connection of its own
                r = call(server.port, "POST", "/embed", embed_body(text))
            else:
                if s is None:
                    s = connect(server.port)
                s.sendall(request_bytes("POST", "/embed", embed_body(text)))
                r = read_response(s)
                if r is None:
                    s.close()
                    s = None
                    r = call(server.port, "POST", "/embed", embed_body(text))
            bad += not (r[0] == 200 and close_to(json.loads(r[2])[0], expected[text]))
            if k % 10 == 0:  # a client that goes away before its answer
                with connect(server.port) as a:
                    a.sendall(request_bytes("POST", "/embed", embed_body(text)))
        if s:
            s.close()
        return bad

    healths(2000)  # warm-up: threads, arenas, caches
    embeds(300, 0)
    check(server.wait_idle(), "rss: requests in flight after the warm-up")
    rss0, threads0 = server.status("VmRSS"), server.status("Threads")
    t0 = time.monotonic()
    bad = 0
    for k in range(10):  # interleaved, so that growth anywhere shows
        healths(requests // 10)
        bad += embeds(300, k)
    seconds = time.monotonic() - t0
    check(server.wait_idle(), "rss: requests in flight at the end")
    rss1, threads1 = server.status("VmRSS"), server.status("Threads")
    growth = (rss1 - rss0) / 1024
    check(bad == 0, f"rss: {bad} /embed answers differ from the single-request answer")
    check(carried == {500}, f"rss: keep-alive connections closed after {sorted(carried)} requests, want 500 "
                            "(REMBERT_KEEP_ALIVE_MAX_REQUESTS)")
    if server.sanitized():
        print("  (a sanitizer build: VmRSS holds its quarantine, the bound is not checked)")
    else:
        check(growth <= RSS_BOUND_MIB, f"rss: VmRSS grew {growth:.1f} MiB over {requests} requests (bound "
                                       f"{RSS_BOUND_MIB} MiB)")
    print(f"  {requests} /health + 3000 /embed (+300 aborted) in {seconds:.1f} s: VmRSS {rss0 / 1024:.1f} -> "
          f"{rss1 / 1024:.1f} MiB ({growth:+.2f} MiB), threads {threads0} -> {threads1}", flush=True)
    server.stop()


def case_flags(binary, models):
    # Out-of-range limits fail at start, naming the flag, before the port opens.
    for flag, value in (("--read-timeout", "0"), ("--write-timeout", "-1"), ("--keep-alive-timeout", "4000"),
                        ("--keep-alive-max-requests", "0")):
        r = subprocess.run([binary, "--model", f"{models}/base", "--port", "0", flag, value], capture_output=True,
                           text=True, timeout=TIMEOUT)
        check(r.returncode == 1 and flag in r.stderr and "listening" not in r.stdout,
              f"{flag} {value}: exit {r.returncode}, stderr {r.stderr!r}")


CASES = {"flags": case_flags, "disconnects": case_disconnects, "stream": case_stream, "slow": case_slow, "headers": case_headers,
         "idle": case_idle, "overload": case_overload}


def main():
    args = sys.argv[1:]
    requests = 100000
    if "--requests" in args:
        at = args.index("--requests")
        requests = int(args[at + 1])
        del args[at:at + 2]
    if len(args) < 2:
        sys.exit(__doc__)
    binary, models, names = args[0], args[1], args[2:] or list(CASES)
    for name in names:
        t0 = time.monotonic()
        print(f"[ {name} ]", flush=True)
        if name == "rss":
            case_rss(binary, models, requests)
        else:
            CASES[name](binary, models)
        print(f"[ {name} ] {time.monotonic() - t0:.1f} s", flush=True)
    if FAILURES:
        print(f"{len(FAILURES)} failure(s):\n  " + "\n  ".join(FAILURES))
        sys.exit(1)
    print("all fault cases passed")


if __name__ == "__main__":
    main()
