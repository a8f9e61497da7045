package events

// queued is how many events wait in s's queue or channel.
func queued(s *Subscription) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.c.Load(); c != nil {
		return len(*c)
	}
	return s.n
}
