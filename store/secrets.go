package store

import (
	"context"
	"fmt"
	"time"
)

// SecretMessage is a Slack message that carries a secret, such as a
// recovery link, and is to be deleted when the secret expires. It names the
// message; the secret itself is never stored.
type SecretMessage struct {
	ChannelID string    // the direct message's channel (D…)
	TS        string    // the message's ts
	DeleteAt  time.Time // when the secret expires
}

// AddSecretMessage records a message to delete at m.DeleteAt. Adding the
// same message again changes nothing.
func (s *Store) AddSecretMessage(ctx context.Context, m SecretMessage) error {
	_, err := s.exec(ctx, `INSERT INTO secret_messages (channel_id, ts, delete_at)
		VALUES ($1, $2, $3) ON CONFLICT (channel_id, ts) DO NOTHING`, m.ChannelID, m.TS, m.DeleteAt.UnixNano())
	if err != nil {
		return fmt.Errorf("add secret message %s/%s: %w", m.ChannelID, m.TS, err)
	}
	return nil
}

// DueSecretMessages returns up to limit messages whose time to be deleted
// has come at now, the earliest first.
func (s *Store) DueSecretMessages(ctx context.Context, now time.Time, limit int) ([]SecretMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT channel_id, ts, delete_at FROM secret_messages
		WHERE delete_at <= $1 ORDER BY delete_at, channel_id, ts LIMIT $2`, now.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("list due secret messages: %w", err)
	}
	defer rows.Close()
	var out []SecretMessage
	for rows.Next() {
		var m SecretMessage
		var at int64
		if err := rows.Scan(&m.ChannelID, &m.TS, &at); err != nil {
			return nil, fmt.Errorf("list due secret messages: %w", err)
		}
		m.DeleteAt = time.Unix(0, at).UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list due secret messages: %w", err)
	}
	return out, nil
}

// RemoveSecretMessage forgets a message once it is deleted from Slack.
// Removing one that is gone (another replica deleted it) is not an error.
func (s *Store) RemoveSecretMessage(ctx context.Context, channelID, ts string) error {
	_, err := s.exec(ctx, `DELETE FROM secret_messages WHERE channel_id = $1 AND ts = $2`, channelID, ts)
	if err != nil {
		return fmt.Errorf("remove secret message %s/%s: %w", channelID, ts, err)
	}
	return nil
}
