package bot

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// cache keeps what a rate-limited Slack method answered for a key, for ttl.
// The approval path reads group members and users' emails on every click;
// with the cache warm it makes no Web API call.
type cache[V any] struct {
	fetch func(ctx context.Context, key string) (V, error)
	ttl   time.Duration
	now   func() time.Time

	mu sync.Mutex
	m  map[string]cached[V]
}

type cached[V any] struct {
	v  V
	at time.Time
}

func newCache[V any](fetch func(ctx context.Context, key string) (V, error), ttl time.Duration, now func() time.Time) *cache[V] {
	return &cache[V]{fetch: fetch, ttl: ttl, now: now, m: map[string]cached[V]{}}
}

// get returns the cached value of key, fetching it when it is missing or
// older than the ttl. Errors are not cached.
func (c *cache[V]) get(ctx context.Context, key string) (V, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < c.ttl {
		return e.v, nil
	}
	v, err := c.fetch(ctx, key)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	c.m[key] = cached[V]{v: v, at: c.now()}
	c.mu.Unlock()
	return v, nil
}

// userSet answers whether a Slack user is one of a list of users and user
// groups (ORYBOT_APPROVERS, ORYBOT_REQUESTERS). Group membership is cached
// because usergroups.users.list is rate-limited to about 20 calls a minute.
type userSet struct {
	setting string // the variable that names the set, for errors
	users   []string
	groups  []string
	members *cache[[]string]
}

func newUserSet(setting string, ids []string, members *cache[[]string]) *userSet {
	a := &userSet{setting: setting, members: members}
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
		if _, err := a.members.get(ctx, g); err != nil {
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
		members, err := a.members.get(ctx, g)
		if err != nil {
			return false, &groupListError{setting: a.setting, err: err}
		}
		if slices.Contains(members, user) {
			return true, nil
		}
	}
	return false, nil
}
