package slacktest

import (
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// Call is one Web API request the Server received.
type Call struct {
	Method string
	// Params holds the form or query parameters, without the token. For a
	// JSON body it holds the top-level fields: strings as they are, other
	// values as JSON.
	Params url.Values
	// Body is the raw request body if it was JSON, else nil.
	Body json.RawMessage
	At   time.Time
}

// Calls returns the Web API calls to method in the order they arrived, or all
// calls if method is "". Calls answered with an injected fault and calls to
// unknown methods are included.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			c.Params = cloneValues(c.Params)
			out = append(out, c)
		}
	}
	return out
}

// Message is a message posted with chat.postMessage, in its current state.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage // as sent, nil if none
	// Versions holds every version of the message, oldest first: the one
	// posted, then one per chat.update. The last one is the current one.
	Versions []MessageVersion
}

// MessageVersion is the content of a message at one point in time.
type MessageVersion struct {
	Text   string
	Blocks json.RawMessage
	At     time.Time
}

// Messages returns the messages posted to channel, or to any channel if
// channel is "", in the order they were posted, with updates applied.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if channel == "" || m.Channel == channel {
			c := *m
			c.Versions = slices.Clone(m.Versions)
			out = append(out, c)
		}
	}
	return out
}

// View is a modal opened with views.open.
type View struct {
	ID        string
	TriggerID string
	View      json.RawMessage // the view as sent
}

// Views returns the modals opened so far, in order.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.views)
}

// Ephemeral is a message posted with chat.postEphemeral.
type Ephemeral struct {
	Channel  string
	User     string
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	At       time.Time
}

// Ephemerals returns the ephemeral messages posted to user, or to anyone if
// user is "", in order.
func (s *Server) Ephemerals(user string) []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ephemeral
	for _, e := range s.ephemerals {
		if user == "" || e.User == user {
			out = append(out, e)
		}
	}
	return out
}

// ResponsePost is a JSON body POSTed to a response_url.
type ResponsePost struct {
	URL             string
	Text            string
	Blocks          json.RawMessage
	ResponseType    string // "ephemeral", "in_channel" or ""
	ReplaceOriginal bool
	DeleteOriginal  bool
	Body            json.RawMessage // the whole body
	At              time.Time
}

// ResponsePosts returns what was POSTed to responseURL, or to any response
// URL if responseURL is "", in order, including posts answered with an
// injected fault.
func (s *Server) ResponsePosts(responseURL string) []ResponsePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ResponsePost
	for _, p := range s.responsePosts {
		if responseURL == "" || p.URL == responseURL {
			out = append(out, p)
		}
	}
	return out
}

// AllText returns every string the bot sent to the Server, one per line:
// every Web API parameter but the token (JSON values are also decoded, so
// text inside blocks appears unescaped), every response_url body and every
// acknowledgement payload. Use it to assert that a secret never leaked.
func (s *Server) AllText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.calls {
		for _, k := range slices.Sorted(maps.Keys(c.Params)) {
			for _, v := range c.Params[k] {
				out = appendStrings(out, v)
			}
		}
		out = appendStrings(out, string(c.Body))
	}
	for _, p := range s.responsePosts {
		out = appendStrings(out, string(p.Body))
	}
	for _, a := range s.acks {
		out = appendStrings(out, string(a.Payload))
	}
	return strings.Join(out, "\n")
}

// appendStrings appends v and, if v is JSON, every string inside it.
func appendStrings(out []string, v string) []string {
	if v == "" {
		return out
	}
	out = append(out, v)
	t := strings.TrimSpace(v)
	if !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "[") && !strings.HasPrefix(t, `"`) {
		return out
	}
	var decoded any
	if json.Unmarshal([]byte(t), &decoded) != nil {
		return out
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			out = appendStrings(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			keys := slices.Collect(maps.Keys(x))
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k])
			}
		}
	}
	walk(decoded)
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
