// Package ports declares the Transport port: everything topicrpc needs from a
// message transport, and nothing about how one works. Adapters in
// adapters/memory and adapters/amqp implement it; the app package uses it.
package ports
