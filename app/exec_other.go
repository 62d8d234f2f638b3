//go:build !unix

package app

import "os/exec"

// ownProcessGroup: without process groups, the context's end kills the
// program only (exec.CommandContext's default).
func ownProcessGroup(*exec.Cmd) {}

// killProcessGroup has nothing to kill without process groups.
func killProcessGroup(*exec.Cmd) {}
