#!/usr/bin/env bash
# The live-probe matrix (CI set): real listeners in network namespaces, probed live;
# each verdict must equal the configured truth or be unknown, and nothing may be left
# behind. The full matrix runs with `make -f Makefile.helpers matrix`.
set -euo pipefail
exec python3 "$(dirname "${BASH_SOURCE[0]}")/probe_matrix.py" --set ci
