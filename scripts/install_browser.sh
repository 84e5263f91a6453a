#!/usr/bin/env bash
# Install what the web app's browser test (tests/serve/test_browser.py) needs:
# Debian's chromium (apt) and the playwright Python package, which drives that
# chromium directly (no browser download: playwright's own browsers are never
# fetched). Idempotent: does nothing that is already done.
#
#   bash scripts/install_browser.sh [PYTHON]     (PYTHON defaults to .venv/bin/python)
#
# Exit status 0 when both are usable afterwards, 1 otherwise (with the reason on
# stderr), so a caller can decide whether a missing browser is fatal.
set -uo pipefail

PY="${1:-.venv/bin/python}"

find_chromium() {
  local c
  for c in "${VIDLAB_CHROMIUM:-}" /usr/lib/chromium/chromium /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

if ! find_chromium >/dev/null; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: no chromium and no apt-get on this system; install Chromium and set VIDLAB_CHROMIUM" >&2
  else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
      else
        echo "install_browser: chromium is missing and installing it needs root (run: sudo apt-get install chromium)" >&2
      fi
    fi
    if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
      echo "install_browser: installing Debian's chromium (apt-get)" >&2
      $SUDO apt-get update -qq >/dev/null 2>&1 || echo "install_browser: apt-get update failed" >&2
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core >/dev/null 2>&1 || echo "install_browser: apt-get install chromium failed" >&2
    fi
  fi
fi

if ! "$PY" -c "import playwright" >/dev/null 2>&1; then
  "$PY" -m pip install --quiet "playwright>=1.45" || echo "install_browser: pip install playwright failed" >&2
fi

status=0
if chromium="$(find_chromium)"; then
  echo "install_browser: chromium: $chromium" >&2
else
  echo "install_browser: chromium is not available" >&2
  status=1
fi
if ! "$PY" -c "import playwright" >/dev/null 2>&1; then
  echo "install_browser: the playwright package is not available in $PY" >&2
  status=1
fi
exit "$status"
