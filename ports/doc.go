// Package ports declares the Transport port: everything topicrpc needs from a
// message transport, and nothing about how one works. Adapters in
// adapters/memory and adapters/amqp implement it; the app package uses it.
//
// # Who does what to a request
//
// A transport moves messages; it holds no request policy. It decodes what
// arrives, delivers each request to one Handler, settles it (acknowledges,
// requeues or rejects it on its queue) when the handler returns, and
// transmits the replies the handler writes. It refuses, by itself, only
// what it cannot decode or deliver: a message that is not a request
// (answered domain.CodeBadRequest where a reply can go), an endpoint it
// cannot serve (ErrBadEndpoint). A queue may drop requests past their
// deadline unseen, as RabbitMQ's per-message TTL does: that is the queue's
// semantics, not a check.
//
// Everything else is the handler's, and app.Server's request pipeline does
// it once for every transport (app/pipeline.go): signature checks, limits,
// expiry by the server's clock, the deadline of the handler's context,
// acknowledgement and progress, panic recovery, and the outcome's code. One
// conformance suite (test/conformance) pins both halves on every transport.
package ports
