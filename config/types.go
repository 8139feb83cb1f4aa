package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/orybot/orybot/commands"
)

// The types below are the typed fields of Config. Each checks its own value
// in Decode, whose error says what the value should be and never repeats
// it. A list names a bad item by its place (1 for the first), not by its
// text, and reports every bad item.

var (
	_ envconfig.Decoder = (*ChannelID)(nil)
	_ envconfig.Decoder = (*ChannelIDs)(nil)
	_ envconfig.Decoder = (*UsersAndGroups)(nil)
	_ envconfig.Decoder = (*TeamIDs)(nil)
	_ envconfig.Decoder = (*Approvals)(nil)
	_ envconfig.Decoder = (*Duration)(nil)
	_ envconfig.Decoder = (*LogLevel)(nil)
	_ envconfig.Decoder = (*ListenAddr)(nil)
)

var (
	channelIDRE     = regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)
	userOrGroupIDRE = regexp.MustCompile(`^[UWS][A-Z0-9]{2,}$`)
	teamIDRE        = regexp.MustCompile(`^[TE][A-Z0-9]{2,}$`)
)

// ChannelID is a Slack channel id (C…, or G… for older private channels).
// Names such as #security are refused: they change, ids do not.
type ChannelID string

// Decode implements envconfig.Decoder.
func (c *ChannelID) Decode(value string) error {
	value = strings.TrimSpace(value)
	if !channelIDRE.MatchString(value) {
		return errors.New("a Slack channel id such as C0123456789 (not a channel name)")
	}
	*c = ChannelID(value)
	return nil
}

// ChannelIDs is a comma-separated list of channel ids; blank items are
// dropped.
type ChannelIDs []string

// Decode implements envconfig.Decoder.
func (c *ChannelIDs) Decode(value string) error {
	ids, err := decodeIDs(value, channelIDRE, "is not a channel id (C…, G…)")
	if err != nil {
		return err
	}
	*c = ids
	return nil
}

// UsersAndGroups is a comma-separated list of Slack user ids (U…, W…) and
// user-group ids (S…), a group standing for its members; blank items are
// dropped.
type UsersAndGroups []string

// Decode implements envconfig.Decoder.
func (u *UsersAndGroups) Decode(value string) error {
	ids, err := decodeIDs(value, userOrGroupIDRE, "is not a Slack user id (U…, W…) or user-group id (S…)")
	if err != nil {
		return err
	}
	*u = ids
	return nil
}

// TeamIDs is a comma-separated list of Slack workspace (T…) and Enterprise
// Grid organization (E…) ids; blank items are dropped.
type TeamIDs []string

// Decode implements envconfig.Decoder.
func (t *TeamIDs) Decode(value string) error {
	ids, err := decodeIDs(value, teamIDRE, "is not a Slack team id (T…) or organization id (E…)")
	if err != nil {
		return err
	}
	*t = ids
	return nil
}

// Approvals maps a changing verb, in lower case, to the number of distinct
// approvals it needs. It is decoded from verb:count pairs such as
// lockout:2,recovery:1; verbs not named need one approval.
type Approvals map[string]int

// Decode implements envconfig.Decoder.
func (a *Approvals) Decode(value string) error {
	m := Approvals{}
	_, err := decodeList(value, func(item string) error {
		verb, n, ok := strings.Cut(item, ":")
		verb = strings.ToLower(strings.TrimSpace(verb))
		count, err := strconv.Atoi(strings.TrimSpace(n))
		spec, known := commands.Lookup(commands.Verb(verb))
		if !ok || err != nil || count < 1 || count > 10 || !known || !spec.Changing {
			return errors.New("is not a verb:count pair such as lockout:2, for a changing verb and a count from 1 to 10")
		}
		m[verb] = count
		return nil
	})
	if err != nil {
		return err
	}
	if len(m) == 0 {
		m = nil
	}
	*a = m
	return nil
}

// Duration is a positive Go duration such as 30m or 1h.
type Duration time.Duration

// Decode implements envconfig.Decoder.
func (d *Duration) Decode(value string) error {
	v, err := time.ParseDuration(strings.TrimSpace(value))
	if err != nil || v <= 0 {
		// Not wrapped: time's error quotes the value.
		return errors.New("a positive Go duration such as 30m or 1h")
	}
	*d = Duration(v)
	return nil
}

// LogLevel is debug, info, warn or error, in any case; it is stored in
// lower case, as slog.Level's UnmarshalText accepts it.
type LogLevel string

// Decode implements envconfig.Decoder.
func (l *LogLevel) Decode(value string) error {
	v := strings.ToLower(strings.TrimSpace(value))
	switch v {
	case "debug", "info", "warn", "error":
	default:
		return errors.New("one of debug, info, warn, error")
	}
	*l = LogLevel(v)
	return nil
}

// decodeIDs decodes a list of ids that each match re; a bad item is named
// by its place and what it is not.
func decodeIDs(value string, re *regexp.Regexp, isNot string) ([]string, error) {
	return decodeList(value, func(item string) error {
		if !re.MatchString(item) {
			return errors.New(isNot)
		}
		return nil
	})
}

// decodeList splits a comma-separated value, trims the items, drops blank
// ones and checks the others with check. The error names every item that
// check refuses by its place among the items, blanks included, so that it
// never repeats a value. An empty list is nil.
func decodeList(value string, check func(item string) error) ([]string, error) {
	var items []string
	var errs []error
	for i, item := range strings.Split(value, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		if err := check(item); err != nil {
			errs = append(errs, fmt.Errorf("item %d %w", i+1, err))
			continue
		}
		items = append(items, item)
	}
	return items, errors.Join(errs...)
}

// ListenAddr is the address of the HTTP endpoints for probes and metrics,
// host:port or :port; "off" disables them and is stored as "".
type ListenAddr string

// Decode implements envconfig.Decoder.
func (l *ListenAddr) Decode(value string) error {
	value = strings.TrimSpace(value)
	if strings.EqualFold(value, "off") {
		*l = ""
		return nil
	}
	_, port, err := net.SplitHostPort(value)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		return errors.New("an address such as :8080 or 127.0.0.1:8080, or off")
	}
	*l = ListenAddr(value)
	return nil
}
