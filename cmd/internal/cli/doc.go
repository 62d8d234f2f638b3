// Package cli implements the topicrpc and topicrpcd command lines: flags,
// transports chosen by URL, rendering of replies (text or JSON Lines) and the
// exit codes scripts rely on. Run and RunServer are the whole programs, so
// tests drive them in-process.
package cli
