// Command parsetime times google/pprof's own parser (profile.Parse, which
// gunzips, decodes and links the whole profile) on each file it is given,
// for bench/decode.ts to set beside ours: one line of JSON a file,
// {"file": ..., "msPerParse": ..., "parses": ...}, after a warm-up, over
// about -seconds of parsing each. Built with test/tools/build-pprof.sh.
//
//	usage: parsetime [-seconds 2] FILE...
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/google/pprof/profile"
)

func main() {
	seconds := flag.Float64("seconds", 2, "seconds of parsing per file")
	flag.Parse()
	for _, f := range flag.Args() {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		parse := func() {
			if _, err := profile.Parse(bytes.NewReader(data)); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", f, err)
				os.Exit(1)
			}
		}
		for i := 0; i < 20; i++ {
			parse()
		}
		budget := time.Duration(*seconds * float64(time.Second))
		n := 0
		start := time.Now()
		for time.Since(start) < budget {
			parse()
			n++
		}
		out, _ := json.Marshal(map[string]interface{}{
			"file":       f,
			"msPerParse": float64(time.Since(start).Nanoseconds()) / 1e6 / float64(n),
			"parses":     n,
		})
		fmt.Println(string(out))
	}
}
