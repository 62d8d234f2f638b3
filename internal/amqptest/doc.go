// Package amqptest sets tests up on a real RabbitMQ: a Namespace (an
// exchange and queue prefix of one test's own, deleted when it ends),
// adapters/amqp transports and subscriptions in it that are closed when it
// ends, and plain amqp091-go channels for publishing messages by hand.
//
// The broker comes from the caller: testkit.EnvBroker in packages outside
// test/, test/internal/brokertest in the suites under test/. It imports
// amqp091-go, so only tests that talk to RabbitMQ anyway import it.
package amqptest
