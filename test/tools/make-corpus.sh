#!/usr/bin/env bash
# Makes the generated corpus in .tools/corpus/: real profiles from real
# profilers on this machine, each with the answer of a real reference tool.
# The conformance suites run over it always (test/README.md).
#   pprof/go-cpu-labels.pb.gz, go-heap.pb.gz  runtime/pprof (corpus/goprofiles)
#   pprof/nodejs-{wall,cpu}.pb.gz, nodejs-heap.pb  @datadog/pprof (corpus/node-profiles.mjs)
#   pprof/<name>.expected.json                .tools/refprof: google/pprof's parser
#   perf/perf-c-busy.txt, perf-node-workload.txt  `perf record -g` + `perf script`
#                                             of corpus/busy.c and `node --perf-basic-prof`
#   perf/expected/<name>-perf-stackcollapse-<mode>.txt  perf's own stackcollapse.py
#                                             on the same perf.data
#   manifest.json                             the cache key, tool versions, perf record -c period
# Kept while the tools and these sources are unchanged (the key in manifest.json).
# Needs go, gcc, perf (with its python scripts) and .tools/refprof (build-pprof.sh).
# usage: test/tools/make-corpus.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=.tools/corpus
here=test/tools/corpus
period=1000000 # ns of cpu-clock between perf samples (perf record -c): 1 ms
# stackcollapse.py's options for stackcollapse-perf.pl's modes. Not --kernel: the
# Perl script (and we) mark [vdso] frames kernel too, stackcollapse.py does not.
modes=(default pid tid)
declare -A mode_args=([default]="" [pid]="--include-pid" [tid]="--include-pid --include-tid")

versions=$(
  go version
  echo "google/pprof $(dpkg-query -W -f='${Version}' golang-github-google-pprof-dev)"
  echo "node $(node --version)"
  echo "@datadog/pprof $(node -p 'require("./node_modules/@datadog/pprof/package.json").version')"
  perf --version
  gcc --version | head -1
)
key=$( { echo "$versions"; cat test/tools/make-corpus.sh "$here"/*.* "$here"/goprofiles/*.go test/tools/refprof/main.go; } | sha256sum | cut -c1-16)
if [ "$(node -p "try { require('./$out/manifest.json').key } catch { '' }")" = "$key" ]; then
  exit 0
fi

echo "make-corpus: profiling small Go, Node.js and C programs into $out/" >&2
mkdir -p .tools
tmp=$(mktemp -d .tools/corpus-new.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/pprof" "$tmp/perf/expected" "$tmp/bin"

export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="$PWD/.tools/go-cache"
(cd "$here/goprofiles" && go build -o "../../../../$tmp/bin/goprofiles" .)
"$tmp/bin/goprofiles" "$tmp/pprof" 1.5
node "$here/node-profiles.mjs" "$tmp/pprof" 1
for f in "$tmp"/pprof/*.pb*; do
  .tools/refprof "$f" > "${f%.pb*}.expected.json"
done

# perf: the text as users pipe it (with pid/tid, which --pid and --tid need),
# names not demangled (stackcollapse-perf.pl would cut C++ names at "(",
# stackcollapse.py not), and stackcollapse.py's stacks for each mode.
stackcollapse="$(perf --exec-path)/scripts/python/stackcollapse.py"
[ -f "$stackcollapse" ] || { echo "make-corpus: perf's $stackcollapse is missing (Debian: linux-perf)" >&2; exit 1; }
gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/bin/busy" "$here/busy.c"
record() { # NAME COMMAND...
  local name=$1; shift
  perf record -q -e cpu-clock -c "$period" -g -o "$tmp/$name.data" -- "$@" >/dev/null
  perf script --no-demangle -F +pid -i "$tmp/$name.data" > "$tmp/perf/$name.txt"
  for mode in "${modes[@]}"; do
    # shellcheck disable=SC2086 # the mode's options are words
    perf script --no-demangle -i "$tmp/$name.data" -s "$stackcollapse" -- ${mode_args[$mode]} \
      > "$tmp/perf/expected/$name-perf-stackcollapse-$mode.txt"
  done
}
record perf-c-busy "$tmp/bin/busy" 0.5
record perf-node-workload node --perf-basic-prof "$here/workload.mjs" 0.5
# V8 leaves its symbol map for perf in /tmp/perf-<pid>.map; perf script has read it.
for pid in $(perf script -F pid -i "$tmp/perf-node-workload.data" | sort -u); do rm -f "/tmp/perf-$pid.map"; done
rm -rf "$tmp"/*.data "$tmp/bin"

node -e '
const [key, versions, period] = process.argv.slice(1);
const manifest = { key, versions: versions.split("\n"), perfPeriod: Number(period) };
process.stdout.write(JSON.stringify(manifest, null, 2) + "\n");
' "$key" "$versions" "$period" > "$tmp/manifest.json"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "make-corpus: $(find "$out" -type f | wc -l) files in $out/" >&2
