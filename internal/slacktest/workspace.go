package slacktest

import "slices"

// DefaultScopes are the bot scopes the Server reports in X-OAuth-Scopes, as
// Slack does on every Web API answer: those of orybot's manifest.
const DefaultScopes = "commands,chat:write,usergroups:read,users:read,users:read.email"

// SetScopes sets the scopes reported for the bot token, comma-separated.
func (s *Server) SetScopes(scopes string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes = scopes
}

// SetMember sets whether the bot is a member of channel. By default the bot
// is a member of every channel; in a channel it is not a member of,
// chat.postMessage, chat.update and chat.postEphemeral fail with
// not_in_channel.
func (s *Server) SetMember(channel string, member bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members[channel] = member
}

func (s *Server) isMemberLocked(channel string) bool {
	member, set := s.members[channel]
	return member || !set
}

// SetChannelUsers sets the users in channel. Once set, chat.postEphemeral to
// any other user in that channel fails with user_not_in_channel. By default
// every user is in every channel.
func (s *Server) SetChannelUsers(channel string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channelUsers[channel] = slices.Clone(users)
}

// SetUserGroup sets the members of user group id, as answered by
// usergroups.users.list.
func (s *Server) SetUserGroup(id string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = slices.Clone(users)
}

// SetUser adds or replaces a user, as answered by users.info.
func (s *Server) SetUser(id, name, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = user{name: name, email: email}
}

// SetPlanUpgradeRequired makes usergroups.users.list fail with
// plan_upgrade_required, as on free workspaces.
func (s *Server) SetPlanUpgradeRequired(required bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.planUpgrade = required
}
