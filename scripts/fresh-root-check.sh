#!/usr/bin/env bash
# Runs the README's set-up and test commands, exactly as the README writes them, in a freshly debootstrapped
# Debian 12 root: what a new user on a clean machine gets. A step that only worked because this machine had
# something installed by hand fails here.
#
#   scripts/fresh-root-check.sh [--block NAME]... [--bench] [--keep]
#     The README's `setup` and `test` blocks always run, then each --block NAME in order (`sanitizer`, ...).
#     --bench        the same as --block bench-setup --block bench-smoke: the benchmark set-up (peers: apt + npm)
#                    and a short run of every benchmark command
#     --keep         leave the root in place (its path is printed) instead of deleting it
#   REMBERT_FRESH_ROOT_CACHE  where the debootstrapped base system and downloaded .debs are kept between runs
#                             (default: .cache/fresh-root in this checkout, ignored by git)
#   REMBERT_DEBIAN_MIRROR     Debian mirror (default http://deb.debian.org/debian)
#
# Needs root (debootstrap, chroot, mount). Clones the current commit (HEAD): commit what you want checked.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${REMBERT_FRESH_ROOT_CACHE:-$REPO/.cache/fresh-root}
MIRROR=${REMBERT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Each logical line of a block (backslash continuations joined) must succeed. `bash -e` alone is not enough: in
# `cmake -B build ... && cmake --build build` a failing configure is not the last command of its `&&` list, so -e
# lets the script go on (a CI run once passed with the fuzz build unconfigured). Each line is wrapped so that its
# status, whatever it is made of, stops the block. A block is therefore written one complete command per line.
strict_lines() {
  awk '
    { line = line $0 }
    /\\$/ { sub(/\\$/, "", line); next }
    line ~ /^[[:space:]]*(#.*)?$/ { line = ""; next }
    { n++; printf "{ %s\n} || { rc=$?; echo \"fresh-root-check: line %d of the block failed (exit $rc)\" >&2; exit $rc; }\n", line, n; line = "" }'
}
# block_of NAME: of the README on stdin, the first ```sh block after the `<!-- fresh-root: NAME -->` marker.
block_of() {
  awk -v name="$1" '
    $0 ~ "<!-- fresh-root: " name " -->" { armed = 1; next }
    armed && /^```sh/ { inside = 1; next }
    inside && /^```/ { exit }
    inside { print }'
}
# For tests/scripts, stdin to stdout: the wrapping alone, or one block of a README.
[ "${1:-}" = --strict-lines ] && { strict_lines; exit; }
[ "${1:-}" = --block-of ] && { block_of "$2"; exit; }

KEEP=0 BLOCKS=(setup test)
while [ $# -gt 0 ]; do
  case $1 in
    --block) BLOCKS+=("$2"); shift 2 ;;
    --bench) BLOCKS+=(bench-setup bench-smoke); shift ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--block NAME]... [--bench] [--keep]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "fresh-root-check: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
log() { echo "== fresh-root-check: $*"; }

# The README's commands, in the README of the commit that is checked (HEAD), not of the working tree.
readme_block() { git -C "$REPO" show HEAD:README.md | block_of "$1"; }
for b in "${BLOCKS[@]}"; do
  [ -n "$(readme_block "$b")" ] || { echo "fresh-root-check: README.md has no '<!-- fresh-root: $b -->' block" >&2; exit 2; }
done
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no)" ]; then
  log "warning: uncommitted changes are not part of the check (it clones HEAD)"
fi

command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap; }
mkdir -p "$CACHE/debs"
BASE=$CACHE/bookworm-minbase.tar
if [ ! -s "$BASE" ]; then
  log "debootstrap --variant=minbase bookworm (cached in $BASE for the next run)"
  tmp=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
  debootstrap --variant=minbase bookworm "$tmp" "$MIRROR" > "$CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/debootstrap.log"; rm -rf "$tmp"; exit 1; }
  # A Debian 12 installation gets its updates and security fixes too.
  cat > "$tmp/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
  rm -rf "$tmp/var/cache/apt/archives/"*.deb
  tar -C "$tmp" -cf "$BASE.part" . && mv "$BASE.part" "$BASE"
  rm -rf "$tmp"
fi

ROOT=$(mktemp -d "${TMPDIR:-/var/tmp}/rembert-fresh-root.XXXXXX")
MOUNTS=() CHILD=
cleanup() {
  local rc=$?
  set +e
  # Whatever still runs in the root goes first (its own process group), then the mounts, then the root.
  if [ -n "$CHILD" ]; then kill -TERM -- "-$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null; fi
  for ((k = ${#MOUNTS[@]} - 1; k >= 0; k--)); do
    umount -R "${MOUNTS[k]}" 2>/dev/null || umount -R -l "${MOUNTS[k]}"
  done
  if [ $KEEP = 1 ]; then log "root kept at $ROOT"; else rm -rf --one-file-system "$ROOT"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
tar -C "$ROOT" -xf "$BASE"

# What the machine needs to reach the outside as this one does: its CA certificates (a TLS-intercepting proxy's
# CA lives in /usr/local/share/ca-certificates; the ca-certificates package folds it in when it installs), DNS,
# and apt's proxy settings.
mkdir -p "$ROOT/usr/local/share/ca-certificates" "$ROOT/etc/ssl/certs"
cp -a /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
for f in /etc/apt/apt.conf.d/*proxy*; do [ -f "$f" ] && cp "$f" "$ROOT/etc/apt/apt.conf.d/"; done

for m in proc sys dev; do mkdir -p "$ROOT/$m"; done
mount -t proc proc "$ROOT/proc"; MOUNTS+=("$ROOT/proc")
mount -t sysfs sysfs "$ROOT/sys"; MOUNTS+=("$ROOT/sys")
mount --rbind /dev "$ROOT/dev"; mount --make-rslave "$ROOT/dev"; MOUNTS+=("$ROOT/dev")
# Downloaded .debs are kept between runs (they are still installed from scratch every time).
mount --bind "$CACHE/debs" "$ROOT/var/cache/apt/archives"; MOUNTS+=("$ROOT/var/cache/apt/archives")

log "cloning $(git -C "$REPO" rev-parse --short HEAD) into $ROOT/root/rembert.cpp"
git clone -q --no-local "$REPO" "$ROOT/root/rembert.cpp"
git -C "$ROOT/root/rembert.cpp" checkout -q --detach "$(git -C "$REPO" rev-parse HEAD)"

# A clean environment, plus the machine's proxy and CA-bundle variables.
ENV=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb)
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY NODE_EXTRA_CA_CERTS SSL_CERT_FILE \
         SSL_CERT_DIR CURL_CA_BUNDLE REQUESTS_CA_BUNDLE GIT_SSL_CAINFO PIP_CERT CI; do
  [ -n "${!v:-}" ] && ENV+=("$v=${!v}")
done
in_root() {  # in_root TITLE COMMANDS: runs COMMANDS, each line checked (strict_lines), in the root's checkout
  log "$1"
  printf '%s\n' "$2" | sed 's/^/    /'
  local start=$SECONDS
  # In the background, in a process group of its own, so that a signal reaches the traps at once (bash runs a trap
  # only after the foreground command ends) and the cleanup can stop everything the commands started.
  setsid chroot "$ROOT" /usr/bin/env -i "${ENV[@]}" /bin/bash -euo pipefail -c \
    "cd /root/rembert.cpp; $(printf '%s\n' "$2" | strict_lines)" &
  CHILD=$!
  wait "$CHILD"
  CHILD=
  log "$1: done in $((SECONDS - start)) s"
}

TOTAL=$SECONDS
for b in "${BLOCKS[@]}"; do in_root "README block '$b'" "$(readme_block "$b")"; done
log "all passed (${BLOCKS[*]}) in $((SECONDS - TOTAL)) s"
