package bot

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/orybot/orybot/audit"
	"github.com/orybot/orybot/commands"
	"github.com/orybot/orybot/store"
)

// slackDate renders t in each reader's own time zone, with a UTC fallback
// for clients that cannot.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format(time.RFC3339))
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

// field is one labelled value on a card, in Slack's two-column layout.
func field(label, value string) *slack.TextBlockObject {
	return mrkdwn(fmt.Sprintf("*%s*\n%s", label, value))
}

// cardText is the notification and screen-reader fallback of a card.
func cardText(r *store.Request) string {
	return fmt.Sprintf("Approval request %s: %s identity %s (%s)", r.ID, r.Verb, r.IdentityID, r.Status)
}

// cardBlocks renders an approval card. A pending card has Approve and Deny
// buttons; a decided one shows the outcome in their place.
func cardBlocks(r *store.Request, required int) []slack.Block {
	title := "Approval needed: " + r.Verb
	if r.Status != store.StatusPending {
		title = "Request: " + r.Verb
	}
	fields := []*slack.TextBlockObject{
		field("Identity", "`"+r.IdentityID+"`"),
		field("Email", orDash(esc(r.Snapshot.Email))),
		field("State when requested", orDash(esc(r.Snapshot.State))),
		field("Requested by", "<@"+r.Requester+">"),
		field("Reason", esc(r.Reason)),
		field("Expires", slackDate(r.ExpiresAt)),
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(title)),
		slack.NewSectionBlock(mrkdwn(cmp.Or(r.Effect, verbSummary(r.Verb))), nil, nil),
		slack.NewSectionBlock(nil, fields, nil),
	}
	if r.Status == store.StatusPending {
		if len(r.Approvals) > 0 {
			who := make([]string, len(r.Approvals))
			for i, a := range r.Approvals {
				who[i] = "<@" + a.Approver + ">"
			}
			blocks = append(blocks, slack.NewSectionBlock(mrkdwn(fmt.Sprintf(":ballot_box_with_check: Approved so far by %s (%d of %d); %d more needed from other approvers.",
				strings.Join(who, ", "), len(r.Approvals), required, required-len(r.Approvals))), nil, nil))
		}
		// Approving changes an account, so Slack asks the approver to confirm
		// what they are about to do, naming the action and the identity.
		confirm := slack.NewConfirmationBlockObject(
			plain(truncate("Approve "+r.Verb+"?", 100)),
			plain(truncate(fmt.Sprintf("This will run %s on identity %s (%s) right away.", r.Verb, r.IdentityID, orDash(r.Snapshot.Email)), 300)),
			plain("Approve"), plain("Cancel"))
		approve := slack.NewButtonBlockElement(actionApprove, r.ID, plain("Approve")).WithStyle(slack.StylePrimary).WithConfirm(confirm)
		deny := slack.NewButtonBlockElement(actionDeny, r.ID, plain("Deny")).WithStyle(slack.StyleDanger)
		cancel := slack.NewButtonBlockElement(actionCancel, r.ID, plain("Cancel request"))
		blocks = append(blocks, slack.NewActionBlock("decide", approve, deny, cancel))
	} else {
		card, _ := statusWords(r)
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(card), nil, nil))
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(fmt.Sprintf("Request `%s` · requested %s", r.ID, slackDate(r.CreatedAt)))))
	return blocks
}

func verbSummary(verb string) string {
	if s, ok := commands.Lookup(commands.Verb(verb)); ok {
		return s.Summary
	}
	return verb
}

// truncate keeps s within a Block Kit length limit.
func truncate(s string, max int) string {
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// auditText is the fallback text of an audit record.
func auditText(rec audit.Record) string {
	return fmt.Sprintf("orybot audit #%d: request %s %s (%s, identity %s)", rec.Seq, rec.RequestID, rec.Event, rec.Verb, rec.IdentityID)
}

// auditBlocks renders an audit record for the audit channel: ids, the
// reason and the result in words, nothing secret, and the record's place in
// the hash chain, so that the channel keeps proof of the trail out of reach
// of whoever can edit the database.
func auditBlocks(rec audit.Record) []slack.Block {
	fields := []*slack.TextBlockObject{
		field("Request", "`"+rec.RequestID+"`"),
		field("Action", "`"+rec.Verb+"`"),
		field("Identity", "`"+rec.IdentityID+"`"),
		field("Requested by", "<@"+rec.Requester+">"),
	}
	if rec.Approver != "" {
		fields = append(fields, field("By", "<@"+rec.Approver+">"))
	}
	if rec.Subject != "" {
		fields = append(fields, field("Subject", "`"+rec.Subject+"`"))
	}
	fields = append(fields, field("Time", slackDate(rec.Time)), field("Reason", orDash(esc(rec.Reason))))
	if rec.Result != "" {
		fields = append(fields, field("Result", truncate(rec.Result, 1900)))
	}
	return []slack.Block{
		slack.NewSectionBlock(mrkdwn(fmt.Sprintf("*%s* · `%s` request `%s`", rec.Event, rec.Verb, rec.RequestID)), nil, nil),
		slack.NewSectionBlock(nil, fields, nil),
		slack.NewContextBlock("", mrkdwn(fmt.Sprintf("audit #%d · hash `%s`", rec.Seq, rec.Hash))),
	}
}

// denyView is the dialog that asks an approver why they deny a request.
func denyView(r *store.Request) slack.ModalViewRequest {
	input := slack.NewPlainTextInputBlockElement(plain("Optional: why, for the requester and the audit trail"), denyReasonID)
	input.Multiline = true
	input.MaxLength = commands.MaxReasonLen
	reason := slack.NewInputBlock(denyReasonID, plain("Reason"), nil, input)
	reason.Optional = true
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      denyDialog,
		PrivateMetadata: r.ID,
		Title:           plain("Deny request"),
		Submit:          plain("Deny"),
		Close:           plain("Back"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(mrkdwn(fmt.Sprintf("Deny `%s` on identity `%s` (request `%s`, asked by <@%s>)? Nothing will be changed in Ory.",
				r.Verb, r.IdentityID, r.ID, r.Requester)), nil, nil),
			reason,
		}},
	}
}

// helpText lists every verb with one line and an example.
func helpText() string {
	var sb strings.Builder
	sb.WriteString("*orybot* acts on Ory identities. Changing commands need a reason after ` -- ` and the approval of a second person.\n")
	for _, s := range commands.Specs() {
		usage := strings.TrimSpace(string(s.Verb) + " " + s.Usage)
		fmt.Fprintf(&sb, "• `/ory %s`: %s Example: `/ory %s`\n", usage, s.Summary, s.Example)
	}
	return sb.String()
}
