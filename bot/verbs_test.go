package bot

import (
	"testing"

	"github.com/orybot/orybot/commands"
)

// TestVerbTable checks that the bot's verb table and the commands package
// agree: every verb Parse accepts has exactly one entry, an entry changes an
// identity exactly when its spec says so, and every entry can be answered.
func TestVerbTable(t *testing.T) {
	table := verbs()
	specs := commands.Specs()
	if len(table) != len(specs) {
		t.Errorf("the table has %d verbs, commands.Specs %d", len(table), len(specs))
	}
	for _, s := range specs {
		v, ok := table[s.Verb]
		if !ok {
			t.Errorf("verb %q has no entry in the table", s.Verb)
			continue
		}
		if v.changing() != s.Changing {
			t.Errorf("verb %q: table says changing=%v, spec says %v", s.Verb, v.changing(), s.Changing)
		}
		if v.changing() && (v.steps == nil || v.access != requesters) {
			t.Errorf("changing verb %q needs steps and the requesters' access", s.Verb)
		}
		if !v.changing() && v.answer == nil && v.ack == nil {
			t.Errorf("verb %q can't be answered: no answer and no ack", s.Verb)
		}
	}
}
