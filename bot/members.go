package bot

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// groupMembers lists a Slack user group's members (usergroups.users.list).
type groupMembers func(ctx context.Context, group string) ([]string, error)

// userSet answers whether a Slack user is one of a list of users and user
// groups (ORYBOT_APPROVERS, ORYBOT_REQUESTERS). Group membership is cached
// because usergroups.users.list is rate-limited to about 20 calls a minute.
type userSet struct {
	users  []string
	groups []string
	api    groupMembers
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cachedGroup
}

type cachedGroup struct {
	members []string
	at      time.Time
}

func newUserSet(ids []string, api groupMembers, ttl time.Duration, now func() time.Time) *userSet {
	a := &userSet{api: api, ttl: ttl, now: now, cache: map[string]cachedGroup{}}
	for _, id := range ids {
		if strings.HasPrefix(id, "S") {
			a.groups = append(a.groups, id)
		} else {
			a.users = append(a.users, id)
		}
	}
	return a
}

// empty reports whether the set names nobody.
func (a *userSet) empty() bool { return len(a.users) == 0 && len(a.groups) == 0 }

// check lists every group once, so that a group id Slack does not know, or a
// workspace without user groups, is reported at start rather than at the
// first click.
func (a *userSet) check(ctx context.Context) error {
	for _, g := range a.groups {
		if _, err := a.members(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

func (a *userSet) contains(ctx context.Context, user string) (bool, error) {
	if slices.Contains(a.users, user) {
		return true, nil
	}
	for _, g := range a.groups {
		members, err := a.members(ctx, g)
		if err != nil {
			return false, err
		}
		if slices.Contains(members, user) {
			return true, nil
		}
	}
	return false, nil
}

func (a *userSet) members(ctx context.Context, group string) ([]string, error) {
	a.mu.Lock()
	c, ok := a.cache[group]
	a.mu.Unlock()
	if ok && a.now().Sub(c.at) < a.ttl {
		return c.members, nil
	}
	members, err := a.api(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("list members of user group %s: %w", group, err)
	}
	a.mu.Lock()
	a.cache[group] = cachedGroup{members: members, at: a.now()}
	a.mu.Unlock()
	return members, nil
}
