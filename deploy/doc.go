// Package deploy holds orybot's deployment files: the Helm chart in
// helm/orybot. Its test renders the chart with Helm's own Go packages, so CI
// checks the chart without a helm binary or a cluster.
//
// It is a module of its own so that Helm and the Kubernetes API packages
// stay out of the bot's go.mod.
package deploy
