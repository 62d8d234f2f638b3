// Package app holds topicrpc's use cases on top of the Transport port: the
// Server, which runs named handlers for the requests its bindings attract, and
// the Client, which calls a target, streams the replies and knows when the call
// is over. fx modules wire them to a transport; see fx.go.
package app
