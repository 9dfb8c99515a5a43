// Command loadgen is Token Stats' HTTP load test. It starts the real headless binary on loopback (a
// fresh data folder for ingest, the generated 10M-record file for queries), drives it, samples its
// memory from /proc, and writes the figures as JSON. "loadgen report" turns those figures and the Go
// benchmark output into docs/benchmarks.md. It only ever talks to 127.0.0.1.
//
//	loadgen run -bin bin/tokenstats -dir .bench -out .bench/http.json
//	loadgen desktop -bin bin/tokenstats -dir .bench -out .bench/desktop.json   (needs DISPLAY)
//	loadgen report -store .bench/store.txt -http .bench/http.json -out docs/benchmarks.md
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen run|desktop|report [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runCmd(os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:])
	case "desktop":
		err = desktopCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want run, desktop or report)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
