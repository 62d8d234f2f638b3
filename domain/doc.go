// Package domain holds topicrpc's pure logic: RabbitMQ topic matching, commands,
// the request and reply messages, and reply aggregation.
//
// Nothing here performs I/O, reads a clock or starts a goroutine: time is always
// passed in, so every rule can be tested in microseconds with a fake clock.
package domain
