#!/usr/bin/env python3
"""Checks a Prosody /metrics scrape with the Prometheus project's own text parser.

    curl -s localhost:8000/metrics | script/check_metrics.py

Reads the exposition text on stdin and parses it with prometheus_client (installed by
script/setup into /var/cache/prosody/venv). Fails (exit 1, reason on stderr) when the text does
not parse, a family has no type, a histogram's buckets decrease or its +Inf bucket differs from
its count, a series repeats, or a label could carry a message key. On success prints one line
per sample, `name{labels} value` with labels sorted, so callers can assert on values.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families

# Labels the engine may use; anything else (a key, an id) would be unbounded.
ALLOWED_LABELS = {"group", "topic", "partition", "kind", "outcome", "le"}


def fail(reason):
    sys.stderr.write(f"check_metrics: {reason}\n")
    sys.exit(1)


def check_histogram(family):
    series = {}
    for sample in family.samples:
        labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
        entry = series.setdefault(labels, {"buckets": [], "count": None})
        if sample.name.endswith("_bucket"):
            entry["buckets"].append((float(sample.labels["le"]), sample.value))
        elif sample.name.endswith("_count"):
            entry["count"] = sample.value
    for labels, entry in series.items():
        buckets = sorted(entry["buckets"])
        if not buckets or buckets[-1][0] != float("inf"):
            fail(f"{family.name}{dict(labels)} has no +Inf bucket")
        values = [value for _, value in buckets]
        if values != sorted(values):
            fail(f"{family.name}{dict(labels)} buckets decrease: {buckets}")
        if values[-1] != entry["count"]:
            fail(f"{family.name}{dict(labels)} +Inf {values[-1]} != count {entry['count']}")


def main():
    text = sys.stdin.read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as error:  # the parser raises ValueError and friends
        fail(f"does not parse: {error}")
    seen = set()
    lines = []
    for family in families:
        if family.type in ("unknown", "untyped"):
            fail(f"{family.name} has no # TYPE")
        if family.type == "histogram":
            check_histogram(family)
        for sample in family.samples:
            extra = set(sample.labels) - ALLOWED_LABELS
            if extra:
                fail(f"{sample.name} has unexpected labels {sorted(extra)}")
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            line = f"{sample.name}{{{labels}}}" if labels else sample.name
            if line in seen:
                fail(f"series repeated: {line}")
            seen.add(line)
            lines.append(f"{line} {sample.value:g}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
