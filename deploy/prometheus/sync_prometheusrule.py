"""Write deploy/k8s/base/prometheusrule.yaml from deploy/prometheus/alerts.yml.

alerts.yml is the one source of the alert rules; the PrometheusRule carries
its groups, text and comments included, under `spec:`.

    python deploy/prometheus/sync_prometheusrule.py          # rewrite the file
    python deploy/prometheus/sync_prometheusrule.py --check  # exit 1 on drift
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
PROMETHEUS_RULE = DEPLOY / "k8s" / "base" / "prometheusrule.yaml"

HEADER = """\
# Generated from deploy/prometheus/alerts.yml by
# deploy/prometheus/sync_prometheusrule.py; edit alerts.yml, not this file.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: mtl-service
  labels:
    app.kubernetes.io/name: mtl-service
    app.kubernetes.io/component: alerts
spec:
"""


def render(alerts_text: str) -> str:
    """The PrometheusRule whose spec is `alerts_text`, indented under `spec:`."""
    body = "".join(
        f"  {line}" if line.strip() else line
        for line in alerts_text.splitlines(keepends=True)
        if not line.startswith("#")  # the file's own header comment
    )
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether it drifted")
    args = parser.parse_args(argv)
    wanted = render(ALERTS.read_text())
    if args.check:
        if PROMETHEUS_RULE.read_text() != wanted:
            print(f"{PROMETHEUS_RULE} differs from {ALERTS}; run {__file__}", file=sys.stderr)
            return 1
        return 0
    PROMETHEUS_RULE.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
