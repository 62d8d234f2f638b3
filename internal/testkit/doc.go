// Package testkit holds the helpers that tests all over the module share: a
// locked buffer for logs and process output, a logger that writes through
// the test, a context bounded by the test, servers started and stopped with
// it (Start), an inbox of what a test waits for (Inbox, Replies), an
// in-memory transport, local addresses for network failures, and the one
// rule for tests that need a RabbitMQ (Broker, NoBroker): without one they
// fail under TOPICRPC_REQUIRE_BROKER=1 and skip with one line otherwise.
//
// It is for tests only. Of the module it imports domain and adapters/memory
// only, never adapters/amqp, so that tests of app and test/conformance do
// not link amqp091-go through it. The RabbitMQ set-up that needs
// amqp091-go lives in internal/amqptest; what only the suites under test/
// need lives in test/internal.
package testkit
