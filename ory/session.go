package ory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	client "github.com/ory/client-go"
)

// Session is a login session of an identity.
type Session struct {
	// ID is the session's UUID.
	ID string
	// IdentityID is the UUID of the identity the session belongs to.
	IdentityID string
	// Active is false once the session was revoked or has expired.
	Active bool
	// AuthenticatedAt is when the user last authenticated in this session.
	AuthenticatedAt time.Time
	// ExpiresAt is when the session expires.
	ExpiresAt time.Time
	// AAL is the authenticator assurance level, "aal1" or "aal2".
	AAL string
	// UserAgent is the user agent Kratos recorded for the session's first
	// device, to tell sessions apart; it may be empty.
	UserAgent string
}

const (
	// sessionPageSize is the largest page Kratos serves. Kratos v1.3.1's
	// "next" links for identity sessions are off by one page (the second
	// request repeats the first page and the last page is never reached),
	// so a page large enough to hold every session is the reliable way.
	sessionPageSize = 1000
	// maxSessionPages bounds the pagination loop in case a server keeps
	// sending "next" links.
	maxSessionPages = 20
)

// Sessions lists the sessions of an identity, newest first; with
// activeOnly, only those still active. An unknown identity has no sessions.
// Beyond 1000 sessions the list may be incomplete on Kratos v1.3.1, whose
// pagination of identity sessions is broken.
func (c *Client) Sessions(ctx context.Context, identityID string, activeOnly bool) ([]Session, error) {
	if !validUUID(identityID) {
		return nil, fmt.Errorf("list sessions: %w", ErrInvalidID)
	}
	op := "list sessions of identity " + identityID
	var out []Session
	seen := map[string]bool{}
	token := ""
	for range maxSessionPages {
		var page []client.Session
		var header http.Header
		err := c.do(ctx, call{name: "list_sessions", op: op, idempotent: true}, func(ctx context.Context) (*http.Response, error) {
			req := c.api.IdentityAPI.ListIdentitySessions(ctx, identityID).PageSize(sessionPageSize)
			if activeOnly {
				req = req.Active(true)
			}
			if token != "" {
				req = req.PageToken(token)
			}
			var resp *http.Response
			var err error
			page, resp, err = req.Execute()
			if resp != nil {
				header = resp.Header
			}
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		added := 0
		for i := range page {
			if seen[page[i].Id] {
				continue
			}
			seen[page[i].Id] = true
			added++
			s := toSession(&page[i])
			if s.IdentityID == "" {
				s.IdentityID = identityID
			}
			out = append(out, s)
		}
		// Kratos v1.3.1 sends a "next" link even after the last page and
		// may repeat a page, so a page without new sessions or the total
		// count also ends the loop.
		next := nextPageToken(header.Get("Link"))
		total, err := strconv.Atoi(header.Get("X-Total-Count"))
		if added == 0 || next == "" || next == token || (err == nil && len(out) >= total) {
			return out, nil
		}
		token = next
	}
	return nil, fmt.Errorf("%s: more than %d pages of sessions", op, maxSessionPages)
}

// Session returns one session, with its identity and devices.
func (c *Client) Session(ctx context.Context, sessionID string) (Session, error) {
	if !validUUID(sessionID) {
		return Session{}, fmt.Errorf("get session: %w", ErrInvalidID)
	}
	var got *client.Session
	err := c.do(ctx, call{name: "get_session", op: "get session " + sessionID, idempotent: true}, func(ctx context.Context) (resp *http.Response, err error) {
		got, resp, err = c.api.IdentityAPI.GetSession(ctx, sessionID).Expand([]string{"identity", "devices"}).Execute()
		return resp, err
	})
	if err != nil {
		return Session{}, err
	}
	return toSession(got), nil
}

// RevokeSession deactivates one session; its token stops working at once.
// Revoking a session that is already inactive succeeds. Kratos keeps the
// inactive session, so it still appears in Sessions.
func (c *Client) RevokeSession(ctx context.Context, sessionID string) error {
	if !validUUID(sessionID) {
		return fmt.Errorf("revoke session: %w", ErrInvalidID)
	}
	return c.do(ctx, call{name: "revoke_session", op: "revoke session " + sessionID, idempotent: true}, func(ctx context.Context) (*http.Response, error) {
		return c.api.IdentityAPI.DisableSession(ctx, sessionID).Execute()
	})
}

// RevokeSessions ends every session of an identity and returns how many
// were active. Kratos deletes the sessions rather than deactivating them,
// so afterwards Sessions lists none, not even inactive ones. An identity
// without sessions gives 0 and no error.
func (c *Client) RevokeSessions(ctx context.Context, identityID string) (int, error) {
	if !validUUID(identityID) {
		return 0, fmt.Errorf("revoke sessions: %w", ErrInvalidID)
	}
	active, err := c.Sessions(ctx, identityID, true)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	err = c.do(ctx, call{name: "revoke_sessions", op: "revoke sessions of identity " + identityID, idempotent: true, goneOK: true}, func(ctx context.Context) (*http.Response, error) {
		return c.api.IdentityAPI.DeleteIdentitySessions(ctx, identityID).Execute()
	})
	if errors.Is(err, ErrNotFound) {
		// Kratos answers 404 when the identity has no session at all.
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return len(active), nil
}

func toSession(in *client.Session) Session {
	out := Session{
		ID:              in.Id,
		Active:          in.GetActive(),
		AuthenticatedAt: in.GetAuthenticatedAt(),
		ExpiresAt:       in.GetExpiresAt(),
	}
	if in.Identity != nil {
		out.IdentityID = in.Identity.Id
	}
	if in.AuthenticatorAssuranceLevel != nil {
		out.AAL = string(*in.AuthenticatorAssuranceLevel)
	}
	for _, d := range in.Devices {
		if ua := d.GetUserAgent(); ua != "" {
			out.UserAgent = ua
			break
		}
	}
	return out
}

// nextPageToken returns the page_token of the rel="next" entry of a Link
// header, or "".
func nextPageToken(link string) string {
	for part := range strings.SplitSeq(link, ",") {
		target, params, ok := strings.Cut(part, ";")
		if !ok || !strings.Contains(params, `rel="next"`) && !strings.Contains(params, "rel=next") {
			continue
		}
		target = strings.Trim(strings.TrimSpace(target), "<>")
		u, err := url.Parse(target)
		if err != nil {
			return ""
		}
		return u.Query().Get("page_token")
	}
	return ""
}
