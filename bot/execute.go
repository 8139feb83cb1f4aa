package bot

import (
	"context"
	"fmt"

	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/store"
)

// execute makes the Ory call of an approved request and says what it did.
func (b *Bot) execute(ctx context.Context, req *store.Request) (string, error) {
	switch commands.Verb(req.Verb) {
	case commands.Deactivate:
		id, err := b.ory.SetState(ctx, req.IdentityID, "inactive")
		if err != nil {
			return "", fmt.Errorf("deactivate identity %s: %w", req.IdentityID, err)
		}
		return fmt.Sprintf("identity is now %s", id.State), nil
	}
	return "", fmt.Errorf("execute request %s: verb %q has no action", req.ID, req.Verb)
}
