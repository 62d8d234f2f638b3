// Package conformance is the one test suite every ports.Transport must pass, so
// that the in-memory and AMQP transports provably behave alike. Differences are
// declared in Features, not discovered.
package conformance

import (
	"testing"

	"github.com/topicrpc/topicrpc/ports"
)

// Features declares what a transport does beyond the common contract.
type Features struct {
	// Routes: Transport.Routes answers (otherwise it returns ErrRoutesUnknown).
	Routes bool
	// StrictRoundRobin: idle competing consumers take turns exactly.
	StrictRoundRobin bool
	// Register: the transport keeps the fleet register (ports.Register).
	Register bool
	// Jobs: the transport keeps a results store (ports.JobStore).
	Jobs bool
}

// Factory returns a new transport isolated from every other transport the
// factory returned (its own exchange and queues), closed by the factory's
// cleanup.
type Factory func(t *testing.T) ports.Transport

// Run runs the suite.
func Run(t *testing.T, f Factory, feat Features) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, Factory, Features)
	}{
		{"Targeting", testTargeting},
		{"SeveralRepliesInOrder", testSeveralReplies},
		{"CompetingConsumers", testCompetingConsumers},
		{"Unroutable", testUnroutable},
		{"ExpiredRequestsAreNotRun", testExpired},
		{"QueueOutlivesConsumer", testQueueOutlivesConsumer},
		{"FIFOPerQueue", testFIFO},
		{"OneCopyPerQueue", testOneCopyPerQueue},
		{"ForgetDropsReplies", testForget},
		{"CloseWaitsForHandlers", testCloseWaits},
		{"CloseCancelsSlowHandlers", testCloseCancels},
		{"BadEndpoint", testBadEndpoint},
		{"Routes", testRoutes},
		{"ClosedTransport", testClosed},
		{"ClientFanOut", testClientFanOut},
		{"Presence", testPresence},
		{"BalancedWork", testBalancedWork},
		{"SignedRequests", testSigned},
		{"BalancedOncePerFleet", testBalancedOncePerFleet},
		{"MalformedRequests", testMalformed},
		{"PipelineRecoversPanics", testPipelinePanic},
		{"PipelineExpiresByServerClock", testPipelineExpired},
		{"PipelineEndsHandlersAtDeadline", testPipelineDeadline},
		{"PipelineIdentityAndPolicy", testPipelineIdentityAndPolicy},
		{"RegisterStates", testRegisterStates},
		{"RegisterRefusesDuplicateNames", testDuplicateName},
	}
	if feat.Jobs {
		tests = append(tests, []struct {
			name string
			fn   func(*testing.T, Factory, Features)
		}{
			{"JobsAsync", testJobsAsync},
			{"JobsLateReplies", testJobsLateReplies},
			{"JobsList", testJobsList},
			{"JobsListNewest", testJobsListNewest},
			{"JobsUnknown", testJobsUnknown},
			{"JobsSigned", testJobsSigned},
		}...)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, f, feat)
		})
	}
}
