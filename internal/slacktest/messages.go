package slacktest

import (
	"net/url"
	"slices"
)

// SetArchived sets whether channel is archived. Posts to an archived
// channel (chat.postMessage, chat.update, chat.postEphemeral) fail with
// is_archived, as they do in Slack.
func (s *Server) SetArchived(channel string, archived bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.archived[channel] = archived
}

// Deleted returns the messages removed with chat.delete, in order; they no
// longer appear in Messages.
func (s *Server) Deleted() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.deleted)
}

// deleteLocked removes a message, as chat.delete does; Deleted lists it.
func (s *Server) deleteLocked(p url.Values) obj {
	i := slices.IndexFunc(s.messages, func(m *Message) bool {
		return m.Channel == p.Get("channel") && m.TS == p.Get("ts")
	})
	if i < 0 {
		return failure("message_not_found")
	}
	s.deleted = append(s.deleted, *s.messages[i])
	s.messages = slices.Delete(s.messages, i, i+1)
	return obj{"ok": true, "channel": p.Get("channel"), "ts": p.Get("ts")}
}
