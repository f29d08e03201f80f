#!/usr/bin/env bash
# Installs the system tools the tests use, or fails saying what is missing. Never skips.
#   .tools/pprof, .tools/refprof  google/pprof's command and our reference reader (test/tools/build-pprof.sh)
#   .tools/corpus/                the generated corpus: real profiles made here (test/tools/make-corpus.sh)
#   perf                          Linux perf (Debian linux-perf), for the perf collector's tests and the corpus
#   gcc                           compiles the C program perf samples for the corpus
#   chromium                      Debian's chromium, driven by playwright-core in the UI tests
#   redis-server                  a real Redis for the BullMQ job runner's tests
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v perf >/dev/null || need_apt+=(linux-perf)
command -v go >/dev/null || need_apt+=(golang-go)
command -v gcc >/dev/null || need_apt+=(gcc)
command -v "${CHROMIUM_PATH:-chromium}" >/dev/null || need_apt+=(chromium)
command -v redis-server >/dev/null || need_apt+=(redis-server)
[ -d /usr/share/gocode/src/github.com/google/pprof ] || need_apt+=(golang-github-google-pprof-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test setup: missing Debian packages: ${need_apt[*]} (install them with apt-get as root)" >&2
    exit 1
  fi
  echo "test setup: installing ${need_apt[*]}" >&2
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

bash test/tools/build-pprof.sh
bash test/tools/make-corpus.sh
