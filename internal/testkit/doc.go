// Package testkit holds the helpers that tests all over the module share: a
// locked buffer for logs and process output, a logger that writes through
// the test, a context bounded by the test, an inbox of what a test waits for
// (Inbox, Replies), local addresses for network failures, and the one rule
// for tests that need a RabbitMQ (Broker, NoBroker): without one they fail
// under TOPICRPC_REQUIRE_BROKER=1 and skip with one line otherwise.
//
// It is for tests only, and imports the standard library and domain only, so
// that any test may use it without linking an adapter. The RabbitMQ set-up that needs
// amqp091-go lives in internal/amqptest; what only the suites under test/
// need lives in test/internal.
package testkit
