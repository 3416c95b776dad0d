"""Reads a Converra /metrics scrape on stdin and parses it with the official Python client's two
parsers: the OpenMetrics parser (strict: types, units, the closing # EOF) and the classic
Prometheus text parser. Prints one `ok ...` line per family and per request sample, then
`all parsed`; any parse error exits non-zero with the parser's message."""

import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as prometheus_families

text = sys.stdin.read()

for family in openmetrics_families(text):
    print(f"ok openmetrics {family.name} {family.type}")
    for s in family.samples:
        if s.name == "converra_http_requests_total":
            labels = " ".join(f"{k}={v}" for k, v in s.labels.items())
            print(f"ok sample {s.name} {labels} {s.value}")

# The classic parser does not know `# EOF` and `# UNIT`: it must still read every sample.
for family in prometheus_families(text):
    print(f"ok prometheus {family.name} {family.type}")

print("all parsed")
