#!/usr/bin/env python3
"""Builds a multilingual benchmark corpus (one text per line, >= 10 MB by default) from the gettext catalogues
installed on this machine (/usr/share/locale/*/LC_MESSAGES/*.mo, via msgunfmt), topped up with
/usr/share/doc text files if needed. Deterministic for a given machine.

  python3 scripts/make_tokenizer_corpus.py OUT.txt [--mb 12]
"""
import glob
import os
import random
import subprocess
import sys


def msgstrs(mo_path):
    try:
        out = subprocess.run(["msgunfmt", mo_path], capture_output=True, timeout=30).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return []
    texts, cur, in_str = [], [], False
    for line in out.splitlines():
        if line.startswith("msgstr"):
            in_str, cur = True, [line[line.index('"') + 1:-1]] if '"' in line else []
        elif line.startswith('"') and in_str:
            cur.append(line[1:-1])
        else:
            if in_str and cur:
                texts.append("".join(cur))
            in_str, cur = False, []
    if in_str and cur:
        texts.append("".join(cur))
    clean = []
    for t in texts:
        t = t.encode().decode("unicode_escape", "ignore").encode("latin-1", "ignore").decode("utf-8", "ignore")
        t = " ".join(t.split())
        if t:
            clean.append(t)
    return clean


def main():
    out_path = sys.argv[1]
    target = int(float(sys.argv[sys.argv.index("--mb") + 1]) * 1e6) if "--mb" in sys.argv else 12_000_000
    size = 0
    lines = []
    catalogues = sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/*.mo"))
    random.Random(0).shuffle(catalogues)  # many languages, not the first ones alphabetically
    for mo in catalogues:
        for t in msgstrs(mo):
            lines.append(t)
            size += len(t.encode()) + 1
        if size >= target:
            break
    if size < target:
        for path in sorted(glob.glob("/usr/share/doc/**/*", recursive=True)):
            if size >= target or not os.path.isfile(path) or path.endswith(".gz"):
                continue
            try:
                text = open(path, encoding="utf-8").read()
            except (UnicodeDecodeError, OSError):
                continue
            for para in text.split("\n\n"):
                para = " ".join(para.split())
                if para:
                    lines.append(para)
                    size += len(para.encode()) + 1
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{out_path}: {len(lines)} texts, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
