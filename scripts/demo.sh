#!/usr/bin/env bash
# The README's first command: installs the system packages that are missing, then boots a Linux
# guest on swiftdm's devices and reports what it saw. Arguments go to `swiftdm demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The demo runs in swiftdm-kit, which `swiftdm demo` hands over to: build it too.
swift build -c release --product swiftdm-kit
exec swift run -c release swiftdm demo "$@"
