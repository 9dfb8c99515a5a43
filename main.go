// Command tokenstats is Token Stats: the local home for LLM token usage.
package main

import (
	"os"

	"github.com/tokenstats/tokenstats/app"
)

func main() { os.Exit(app.Main(os.Args[1:])) }
