// Command refprof reads one pprof file with google/pprof's own parser and
// prints, as JSON, what the conformance tests compare the platform against:
// the number of samples and, per sample type, the total and each function's
// flat (leaf) and cum (anywhere on the stack, once per sample) sums; and the
// same sums per source line, as `pprof -lines` groups them: keyed
// "function<TAB>file:line" (file and line as the profile has them, "" and 0
// where it has none); and per function and file, keyed "function<TAB>file".
//
//	usage: refprof FILE > FILE.expected.json
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/google/pprof/profile"
)

// Sums are one function's values in one sample type.
type Sums struct {
	Flat int64 `json:"flat"`
	Cum  int64 `json:"cum"`
}

// TypeSums is one sample type: its total and its functions by name.
type TypeSums struct {
	Type      string           `json:"type"`
	Unit      string           `json:"unit"`
	Total     int64            `json:"total"`
	Functions map[string]*Sums `json:"functions"`
	Lines     map[string]*Sums `json:"lines"`
	ByFile    map[string]*Sums `json:"byFile"`
}

// Expected is the whole answer, the shape of `<name>.expected.json`.
type Expected struct {
	Samples     int        `json:"samples"`
	SampleTypes []TypeSums `json:"sampleTypes"`
}

// stack names a sample's frames from the leaf up. A location contributes one
// frame per Line, Line[0] the innermost (inlined) one; a Line without a
// function is "?"; a location without lines is its address, 0x<hex>.
func stack(s *profile.Sample) []string {
	var names []string
	for _, loc := range s.Location {
		if len(loc.Line) == 0 {
			names = append(names, fmt.Sprintf("0x%x", loc.Address))
		}
		for _, line := range loc.Line {
			if line.Function == nil {
				names = append(names, "?")
			} else {
				names = append(names, line.Function.Name)
			}
		}
	}
	return names
}

// fileKeys names a sample's frames from the leaf up by function and file.
func fileKeys(s *profile.Sample) []string {
	var keys []string
	for _, loc := range s.Location {
		if len(loc.Line) == 0 {
			keys = append(keys, fmt.Sprintf("0x%x\t", loc.Address))
		}
		for _, line := range loc.Line {
			if line.Function == nil {
				keys = append(keys, "?\t")
			} else {
				keys = append(keys, line.Function.Name+"\t"+line.Function.Filename)
			}
		}
	}
	return keys
}

// lineKeys names a sample's frames from the leaf up as pprof -lines does:
// function, file and line of each Line; a location without lines is its
// address.
func lineKeys(s *profile.Sample) []string {
	var keys []string
	for _, loc := range s.Location {
		if len(loc.Line) == 0 {
			keys = append(keys, fmt.Sprintf("0x%x\t:0", loc.Address))
		}
		for _, line := range loc.Line {
			if line.Function == nil {
				keys = append(keys, fmt.Sprintf("?\t:%d", line.Line))
			} else {
				keys = append(keys, fmt.Sprintf("%s\t%s:%d", line.Function.Name, line.Function.Filename, line.Line))
			}
		}
	}
	return keys
}

// add sums v into flat for keys[0] and into cum once for each distinct key.
func add(sums map[string]*Sums, keys []string, v int64) {
	if len(keys) == 0 {
		return
	}
	get := func(k string) *Sums {
		if sums[k] == nil {
			sums[k] = &Sums{}
		}
		return sums[k]
	}
	get(keys[0]).Flat += v
	counted := make(map[string]bool, len(keys))
	for _, k := range keys {
		if !counted[k] {
			counted[k] = true
			get(k).Cum += v
		}
	}
}

func summarize(p *profile.Profile) Expected {
	stacks := make([][]string, len(p.Sample))
	lines := make([][]string, len(p.Sample))
	files := make([][]string, len(p.Sample))
	for i, s := range p.Sample {
		stacks[i] = stack(s)
		lines[i] = lineKeys(s)
		files[i] = fileKeys(s)
	}
	out := Expected{Samples: len(p.Sample), SampleTypes: []TypeSums{}}
	for t, st := range p.SampleType {
		sums := TypeSums{Type: st.Type, Unit: st.Unit, Functions: map[string]*Sums{}, Lines: map[string]*Sums{}, ByFile: map[string]*Sums{}}
		get := func(name string) *Sums {
			if sums.Functions[name] == nil {
				sums.Functions[name] = &Sums{}
			}
			return sums.Functions[name]
		}
		for i, s := range p.Sample {
			v := s.Value[t]
			sums.Total += v
			add(sums.Lines, lines[i], v)
			add(sums.ByFile, files[i], v)
			names := stacks[i]
			if len(names) == 0 {
				continue
			}
			get(names[0]).Flat += v
			counted := make(map[string]bool, len(names))
			for _, name := range names {
				if !counted[name] {
					counted[name] = true
					get(name).Cum += v
				}
			}
		}
		out.SampleTypes = append(out.SampleTypes, sums)
	}
	return out
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: refprof FILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "refprof:", err)
		os.Exit(1)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "refprof: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(summarize(p)); err != nil {
		fmt.Fprintln(os.Stderr, "refprof:", err)
		os.Exit(1)
	}
}
