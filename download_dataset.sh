#!/usr/bin/env bash
# Download the fakebench test sets: a thin wrapper over `fakebench download` (see docs/downloads.md).
#
#   ./download_dataset.sh                              # every dataset with a public source (= --all)
#   ./download_dataset.sh --suite universalfakedetect    # any `fakebench download` options
#   FAKEBENCH_DATA=/data/fakebench ./download_dataset.sh --dataset forensynths-progan
set -euo pipefail

if [ "$#" -eq 0 ]; then
  set -- --all
fi

if command -v fakebench >/dev/null 2>&1; then
  exec fakebench download "$@"
fi
# Not installed as a command (no `pip install -e .`): run the checkout's cli.py.
exec "${PYTHON:-python3}" "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cli.py" download "$@"
