// Package gcli2api holds no Go code: it is the home of token_stats.py, the drop-in gcli2api imports to
// report usage, and of the Go test that runs its Python suite against the real binary.
package gcli2api
