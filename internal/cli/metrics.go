package cli

import (
	"fmt"
	"net"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/observability"
)

func init() {
	register(&command{name: "metrics", summary: "serve the fleet's metrics from the metadata store for Prometheus to scrape (docs/scale.md)",
		new: func() any { return &metricsCmd{} }})
}

type metricsCmd struct {
	Serve metricsServeCmd `cmd:"" help:"serve /metrics: usage counters by team, project and cost centre, recent attempts by team and status, running runs by team"`
}

type metricsServeCmd struct {
	Addr   string        `name:"addr" default:"127.0.0.1:9464" help:"listen address (host:port)"`
	Window time.Duration `name:"window" default:"1h" help:"how far back aiflow_fleet_recent_attempts counts"`
}

// Run serves until the command's context ends (SIGINT, SIGTERM). The figures are the metadata
// store's, so one replica serves the whole deployment whatever the number of pods; AIFLOW_TEAM
// limits them to that team's, as for runs and usage.
func (c *metricsServeCmd) Run(e *Env) error {
	if c.Window <= 0 {
		return fault.Usagef("metrics serve: --window %s: want a positive duration", c.Window)
	}
	store, err := openMeta(e)
	if err != nil {
		return err
	}
	defer store.Close()
	return observability.ServeFleet(e.Ctx, c.Addr, &observability.Fleet{Store: store, Window: c.Window},
		func(a net.Addr) { fmt.Fprintf(e.Stdout, "aiflow fleet metrics: http://%s/metrics\n", a) })
}
