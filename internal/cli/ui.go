package cli

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/ui"
)

func init() {
	register(&command{name: "ui", summary: "serve the web UI: pipelines, graphs, runs, lineage, usage and authoring (docs/ui.md)",
		new: func() any { return &uiCmd{} }})
}

type uiCmd struct {
	Addr         string `name:"addr" default:"127.0.0.1:8080" help:"listen address; beyond loopback only with --trusted-proxy"`
	Specs        string `name:"specs" placeholder:"DIR" help:"folder authoring may open and save specs in (read-only without it)"`
	TrustedProxy string `name:"trusted-proxy" placeholder:"CIDR,..." help:"addresses (IPs or CIDRs, comma-separated) of the authenticating proxy whose identity headers are believed"`
	UserHeader   string `name:"user-header" default:"X-Forwarded-User" help:"header naming the authenticated user (with --trusted-proxy)"`
	TeamsHeader  string `name:"teams-header" default:"X-Forwarded-Groups" help:"header listing the user's teams, comma-separated (with --trusted-proxy)"`
	AdminTeam    string `name:"admin-team" default:"platform" help:"teams whose members see every team (comma-separated)"`
}

func (c *uiCmd) Run(e *Env) error {
	auth := ui.Auth{UserHeader: c.UserHeader, TeamsHeader: c.TeamsHeader, AdminTeams: splitList(c.AdminTeam)}
	for _, p := range splitList(c.TrustedProxy) {
		pre, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return fault.Usagef("ui: --trusted-proxy %q: want an IP address or a CIDR", p)
			}
			pre = netip.PrefixFrom(a, a.BitLen())
		}
		auth.TrustedProxies = append(auth.TrustedProxies, pre)
	}
	cfg, err := e.Config()
	if err != nil {
		return err
	}
	// The UI applies each user's teams itself; a deployment pinned to a team (AIFLOW_TEAM)
	// shows only that one, whoever asks.
	store, err := openMeta(e)
	if err != nil {
		return err
	}
	defer store.Close()
	return ui.Serve(e.Ctx, c.Addr, ui.Config{Store: store, Registry: e.Registry, Envs: cfg.Envs, SpecsDir: c.Specs, Auth: auth},
		func(a net.Addr) { fmt.Fprintf(e.Stdout, "aiflow ui: http://%s/\n", a) })
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
