#!/usr/bin/env bash
# The main job: install what is missing, build both targets, and serve the browser app on
# http://127.0.0.1:8080 (PORT=... to change it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/build.sh
port=${PORT:-8080}
cat <<TXT

StackLab is built.
  Browser app:  http://127.0.0.1:$port/   (served from build/web; Ctrl+C stops the server)
  Desktop app:  build/native/stacklab-gui        (needs a display; under ssh try: xvfb-run ...)
  CLI:          build/native/stacklab chips      (add --json for machine-readable output)

TXT
exec node scripts/serve.mjs build/web "$port"
