package bot

import (
	"context"
	"slices"

	"github.com/slack-go/slack"
)

// outsiderWords answers a member of another workspace, for example one who
// shares a Slack Connect channel with the bot.
const outsiderWords = "orybot only serves members of its own Slack workspace, so it ignored this. Nothing was done."

// ourTeam reports whether team is the app's own workspace (auth.test at
// start) or one that ORYBOT_ALLOWED_TEAMS adds. An empty team is not ours:
// the check fails closed.
func (b *Bot) ourTeam(team string) bool {
	return team != "" && (team == b.cfg.TeamID || slices.Contains(b.cfg.AllowedTeams, team))
}

// clickTeamsOK reports whether a click or dialog comes from a member of our
// workspace. Slack names the user's own team (user.team_id) and the team
// the action happened in (team.id); each that is given must be ours, and at
// least one must be given.
func (b *Bot) clickTeamsOK(cb slack.InteractionCallback) bool {
	teams := slices.DeleteFunc([]string{cb.User.TeamID, cb.Team.ID}, func(s string) bool { return s == "" })
	if len(teams) == 0 {
		return false
	}
	for _, t := range teams {
		if !b.ourTeam(t) {
			return false
		}
	}
	return true
}

// refuseOutsider tells a clicker from another workspace that the bot does
// not serve them, and logs it.
func (b *Bot) refuseOutsider(ctx context.Context, cb slack.InteractionCallback) {
	b.log.Warn("refused: user of another team", "approver", cb.User.ID, "team", cb.User.TeamID, "action_team", cb.Team.ID)
	b.reply(ctx, cb.ResponseURL, outsiderWords)
}
