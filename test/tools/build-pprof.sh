#!/usr/bin/env bash
# Builds, offline from Debian's golang-go and golang-github-google-pprof-dev:
#   .tools/pprof    google/pprof's own command (pprof -top, -traces, -proto, ...)
#   .tools/refprof  test/tools/refprof: what google/pprof's parser reads from a
#                   profile, as `<name>.expected.json` (test/README.md)
#   .tools/parsetime  bench/tools/parsetime: google/pprof's parser timed, for bench/decode.ts
# Does nothing when both are there and built from the same Go, pprof package
# and refprof source (.tools/pprof.key). usage: test/tools/build-pprof.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
src=/usr/share/gocode/src/github.com/google/pprof
for need in go "$src"; do
  if ! command -v "$need" >/dev/null && [ ! -d "$need" ]; then
    echo "build-pprof: $need is missing (Debian: apt-get install golang-go golang-github-google-pprof-dev)" >&2
    exit 1
  fi
done
key=$( { go version; dpkg-query -W -f='${Version}\n' golang-github-google-pprof-dev 2>/dev/null || true; cat test/tools/refprof/main.go bench/tools/parsetime/main.go; } | sha256sum | cut -c1-16)
if [ -x .tools/pprof ] && [ -x .tools/refprof ] && [ -x .tools/parsetime ] && [ "$(cat .tools/pprof.key 2>/dev/null)" = "$key" ]; then
  exit 0
fi
mkdir -p .tools
echo "build-pprof: building .tools/pprof and .tools/refprof" >&2
# GOPATH mode: Debian installs Go libraries as a GOPATH tree, no module proxy needed.
export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="$PWD/.tools/go-cache"
go build -o .tools/pprof github.com/google/pprof
(cd test/tools/refprof && go build -o ../../../.tools/refprof .)
(cd bench/tools/parsetime && go build -o ../../../.tools/parsetime .)
echo "$key" > .tools/pprof.key
