package slacktest

// WithRoundRobin makes the Server send envelopes to its connected Socket
// Mode clients in turn, as Slack spreads an app's envelopes over its
// connections (up to 10), so that a test can run several replicas of a bot.
// Without it every envelope goes to the newest connection.
func WithRoundRobin() Option {
	return func(s *Server) { s.roundRobin = true }
}

// LiveConnections returns how many Socket Mode clients are connected now.
func (s *Server) LiveConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}
