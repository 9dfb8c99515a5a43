//go:build unix

package client

import (
	"os"
	"syscall"
)

// haveFlock: claims are held with flock(2), which the kernel releases when the process dies.
const haveFlock = true

// lockFile takes an exclusive flock on f without waiting; false when another process holds one.
func lockFile(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
