package bot

import "strings"

// esc makes text that is not the bot's own safe to put into mrkdwn: Slack
// reads <…> as mentions (<!channel>, <@U…>) and links (<https://…|label>)
// and & as the start of an entity, so a self-registered identity whose email
// is "x@<!channel>"@example.com, a session's user agent or a deny reason
// could otherwise ping a channel or show a disguised link. Every value from
// Ory, from Slack users or from the request goes through esc before it
// joins mrkdwn text; plain_text fields are not parsed by Slack and stay as
// they are.
func esc(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for _, r := range s {
		switch r {
		case '&':
			sb.WriteString("&amp;")
		case '<':
			sb.WriteString("&lt;")
		case '>':
			sb.WriteString("&gt;")
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// code quotes an outside value as inline code in mrkdwn, escaped. A
// backtick inside would end the span early, so it becomes a similar-looking
// prime.
func code(s string) string {
	return "`" + strings.ReplaceAll(esc(s), "`", "ʹ") + "`"
}

// maskEmail keeps the first character and the domain, enough for an
// approver to recognise the account without the card spreading the
// address. The domain starts after the last @: a quoted local part may
// hold more of them ("x@<!channel>"@example.com). The result is not
// escaped; esc it for mrkdwn.
func maskEmail(email string) string {
	i := strings.LastIndex(email, "@")
	if i <= 0 {
		return ""
	}
	r := []rune(email[:i])
	return string(r[0]) + "***@" + email[i+1:]
}
