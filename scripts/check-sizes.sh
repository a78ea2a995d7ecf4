#!/usr/bin/env bash
# Keeps the house readable (issue 11): no C source or header over 900 lines,
# so that each file can be read alone. Run by `make format-check`.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=900
over=$(find user bpf include tests -name '*.[ch]' -print0 | xargs -0 wc -l |
	awk -v limit=$limit '$2 != "total" && $1 > limit { print "  " $2 " (" $1 " lines)" }')
if [ -n "$over" ]; then
	echo "check-sizes: files over $limit lines; split them along a seam (docs/architecture.md):" >&2
	echo "$over" >&2
	exit 1
fi
