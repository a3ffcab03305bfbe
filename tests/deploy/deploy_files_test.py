#!/usr/bin/python3
"""What can be checked of deploy/ without Docker or a cluster: the Dockerfile's build stage installs what
scripts/install-deps.sh installs for the build, its final stage no -dev package, as a user without privileges and
with a HEALTHCHECK; every Kubernetes manifest parses, the probes ask /health on the container's port, the grace
period covers the drain, the HPA's metric is one the server exports; haproxy accepts deploy/haproxy.cfg.

  deploy_files_test.py SOURCE_DIR

Run by ctest (tests/CMakeLists.txt) with Debian's /usr/bin/python3 and python3-yaml (scripts/install-deps.sh).
"""
import os
import re
import shutil
import subprocess
import sys

import yaml

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def apt_lists(text):
    """The packages of each `apt-get install` command in a shell script or Dockerfile (continuation lines joined)."""
    joined = re.sub(r"\\\n", " ", text)
    lists = []
    for line in joined.splitlines():
        m = re.search(r"apt-get install (.*)", line)
        if not m:
            continue
        command = re.split(r"&&|;|\|\|", m.group(1))[0]
        lists.append([w for w in command.split() if not w.startswith("-") and not w.startswith("$")])
    return lists


def main():
    root = sys.argv[1]
    read = lambda path: open(os.path.join(root, path)).read()

    # Dockerfile against install-deps.sh.
    build_packages = apt_lists(read("scripts/install-deps.sh"))[0]
    dockerfile = read("deploy/Dockerfile")
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    check(len(stages) == 2, f"deploy/Dockerfile: expected 2 stages, found {len(stages)}")
    check(all(s.startswith("debian:12") for s in stages), "deploy/Dockerfile: every stage must be FROM debian:12")
    docker_build = apt_lists(stages[0])[0] if stages and apt_lists(stages[0]) else []
    check(sorted(docker_build) == sorted(build_packages),
          "deploy/Dockerfile's build stage installs "
          f"{sorted(set(docker_build) ^ set(build_packages))} differently from scripts/install-deps.sh's build list")
    runtime = [p for lst in apt_lists(stages[-1]) for p in lst] if stages else []
    check(runtime and not [p for p in runtime if p.endswith("-dev")],
          f"deploy/Dockerfile's final stage must install runtime packages only, got {runtime}")
    final = stages[-1] if stages else ""
    user = re.findall(r"^USER (\S+)", final, flags=re.M)
    check(user and user[-1] not in ("root", "0"), "deploy/Dockerfile: the final stage must run as a non-root USER")
    check(re.search(r"^HEALTHCHECK .*\n?.*/health", final, flags=re.M), "deploy/Dockerfile: no HEALTHCHECK on /health")

    # Kubernetes manifests.
    docs = {}
    for name in sorted(os.listdir(os.path.join(root, "deploy/k8s"))):
        if name.endswith((".yaml", ".yml")):
            for doc in yaml.safe_load_all(read("deploy/k8s/" + name)):
                docs[doc["kind"]] = doc
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler"):
        check(kind in docs, f"deploy/k8s: no {kind}")
    if "Deployment" in docs:
        pod = docs["Deployment"]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
        check(str(port_names.get("http")) == env.get("REMBERT_PORT"), "deploy/k8s: containerPort http != REMBERT_PORT")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = container.get(probe, {}).get("httpGet", {})
            check(get.get("path") == "/health" and get.get("port") == "http",
                  f"deploy/k8s: the {probe} must GET /health on port http")
        drain = float(env.get("REMBERT_DRAIN_SECONDS", 2))
        grace = pod.get("terminationGracePeriodSeconds", 30)
        # The drain, then httplib's 5 s keep-alive wait, then the requests in flight.
        check(grace >= drain + 5 + 10, f"deploy/k8s: terminationGracePeriodSeconds {grace} leaves under 10 s "
                                       f"after a {drain} s drain and the 5 s keep-alive wait")
        check(pod.get("securityContext", {}).get("runAsNonRoot") is True, "deploy/k8s: runAsNonRoot is not set")
        check("memory" in container["resources"].get("requests", {}), "deploy/k8s: no memory request")
    if "Service" in docs:
        check(docs["Service"]["spec"]["ports"][0]["targetPort"] == "http", "deploy/k8s: Service targetPort != http")
    if "HorizontalPodAutoscaler" in docs:
        metrics_cc = read("server/metrics.cc")
        for m in docs["HorizontalPodAutoscaler"]["spec"]["metrics"]:
            if m["type"] == "Pods":
                name = m["pods"]["metric"]["name"]
                check(f'"{name}"' in metrics_cc, f"deploy/k8s: the HPA's metric {name} is not in server/metrics.cc")

    # HAProxy's own check of its configuration.
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if os.access(haproxy, os.X_OK):
        r = subprocess.run([haproxy, "-c", "-f", os.path.join(root, "deploy/haproxy.cfg")], capture_output=True,
                           text=True)
        check(r.returncode == 0, "haproxy -c -f deploy/haproxy.cfg: " + r.stdout + r.stderr)
    else:
        failures.append("haproxy is not installed (apt-get install haproxy; scripts/install-deps.sh does)")

    for f in failures:
        print("deploy_files: FAIL: " + f)
    print(f"deploy_files: {'passed' if not failures else 'FAILED'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
