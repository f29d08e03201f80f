// Command goprofiles writes two real Go runtime profiles of a small workload
// into a directory, for the generated test corpus (test/tools/make-corpus.sh):
//
//	go-cpu-labels.pb.gz  runtime/pprof's CPU profile, samples labelled with
//	                     pprof.Do (handler, tenant) as services label them
//	go-heap.pb.gz        the heap profile (alloc and inuse, objects and bytes)
//
// usage: goprofiles OUT_DIR [SECONDS]
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

type order struct {
	ID    int      `json:"id"`
	Items []string `json:"items"`
	Total float64  `json:"total"`
}

var retained [][]byte

func encodeOrders(n int) []byte {
	orders := make([]order, n)
	for i := range orders {
		orders[i] = order{ID: i, Items: []string{"sku-" + strconv.Itoa(i), "sku-" + strconv.Itoa(i*7)}, Total: float64(i) * 1.25}
	}
	b, _ := json.Marshal(orders)
	return b
}

func decodeOrders(b []byte) int {
	var orders []order
	_ = json.Unmarshal(b, &orders)
	return len(orders)
}

func checksum(b []byte) byte {
	sum := sha256.Sum256(b)
	for i := 0; i < 20; i++ {
		sum = sha256.Sum256(sum[:])
	}
	return sum[0]
}

func sortNames(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("name-%08d", (i*7919)%n)
	}
	sort.Strings(names)
	return strings.Join(names[:3], ",")
}

// checkout and search are the two request handlers; each runs under its own labels.
func checkout(deadline time.Time) {
	for time.Now().Before(deadline) {
		b := encodeOrders(200)
		decodeOrders(b)
		checksum(b)
		if len(retained) < 400 {
			retained = append(retained, b)
		}
	}
}

func search(deadline time.Time) {
	for time.Now().Before(deadline) {
		sortNames(2000)
	}
}

func run(dir string, seconds float64) error {
	runtime.MemProfileRate = 4096
	cpu, err := os.Create(filepath.Join(dir, "go-cpu-labels.pb.gz"))
	if err != nil {
		return err
	}
	defer cpu.Close()
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	var wg sync.WaitGroup
	handlers := map[string]func(time.Time){"checkout": checkout, "search": search}
	for name, handler := range handlers {
		name, handler := name, handler
		wg.Add(1)
		go func() {
			defer wg.Done()
			labels := pprof.Labels("handler", name, "tenant", "acme")
			pprof.Do(context.Background(), labels, func(context.Context) { handler(deadline) })
		}()
	}
	wg.Wait()
	pprof.StopCPUProfile()

	runtime.GC()
	heap, err := os.Create(filepath.Join(dir, "go-heap.pb.gz"))
	if err != nil {
		return err
	}
	defer heap.Close()
	return pprof.Lookup("heap").WriteTo(heap, 0)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: goprofiles OUT_DIR [SECONDS]")
		os.Exit(2)
	}
	seconds := 1.5
	if len(os.Args) > 2 {
		s, err := strconv.ParseFloat(os.Args[2], 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "goprofiles: SECONDS:", err)
			os.Exit(2)
		}
		seconds = s
	}
	if err := run(os.Args[1], seconds); err != nil {
		fmt.Fprintln(os.Stderr, "goprofiles:", err)
		os.Exit(1)
	}
}
