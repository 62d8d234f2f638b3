package brokertest

// Internals exercised by the external tests.
var (
	StartContainer = startContainer
	RunContainer   = runContainer
	DockerAnswers  = dockerAnswers
	BrokerScript   = brokerScript
	LocalInstalled = localInstalled
	GuardInt       = guard[int]
)
