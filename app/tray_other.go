//go:build !(linux || freebsd || openbsd || netbsd)

package app

import "context"

// watchTrayHost: Windows' notification area and macOS' menu bar are always there.
func watchTrayHost(context.Context) func() bool { return func() bool { return true } }
