package ui

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
)

// Auth says who may use the UI. Without TrustedProxies the UI serves loopback only, to the
// machine's own user, who sees everything (a developer's `aiflow-runner ui`). With them, it sits
// behind an authenticating proxy: a request is served only when it comes from one of those
// addresses and names its user; the user sees the pipelines of the teams the proxy names.
type Auth struct {
	// TrustedProxies are the addresses of the authenticating proxy: only their requests are
	// served, and only their headers are believed.
	TrustedProxies []netip.Prefix
	// UserHeader names the authenticated user (default X-Forwarded-User).
	UserHeader string
	// TeamsHeader lists the user's teams, comma-separated (default X-Forwarded-Groups).
	TeamsHeader string
	// AdminTeams are the platform teams whose members see every team's pipelines.
	AdminTeams []string
}

// User is who a request is from.
type User struct {
	Name  string   `json:"name"`
	Teams []string `json:"teams"`
	// Admin users see and edit every team's pipelines.
	Admin bool `json:"admin"`
}

// sees reports whether u may see a pipeline of team.
func (u *User) sees(team string) bool { return u.Admin || slices.Contains(u.Teams, team) }

// scope is the tenant filter of u's reads: nil (none) for an admin.
func (u *User) scope() []string {
	if u.Admin {
		return nil
	}
	if u.Teams == nil {
		return []string{}
	}
	return u.Teams
}

func (a *Auth) proxied() bool { return len(a.TrustedProxies) > 0 }

func (a *Auth) userHeader() string {
	if a.UserHeader != "" {
		return a.UserHeader
	}
	return "X-Forwarded-User"
}

func (a *Auth) teamsHeader() string {
	if a.TeamsHeader != "" {
		return a.TeamsHeader
	}
	return "X-Forwarded-Groups"
}

// checkAddr refuses to listen beyond loopback without authentication: the metadata store holds
// every team's runs, and the UI writes specs.
func (a *Auth) checkAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fault.Usagef("ui: --addr %q: want host:port (%v)", addr, err)
	}
	if a.proxied() || isLoopbackHost(host) {
		return nil
	}
	return fault.Configf("ui: refusing to serve on %s without authentication: bind to loopback (127.0.0.1) or name the authenticating proxy with --trusted-proxy", addr)
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

// identify returns the request's user, or an HTTP status and a reason to refuse it.
func (a *Auth) identify(r *http.Request) (*User, int, string) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	remote, err := netip.ParseAddr(host)
	if err != nil {
		return nil, http.StatusForbidden, "unknown client address"
	}
	remote = remote.Unmap()
	if !a.proxied() {
		// Loopback only, and only under a loopback name: a page of another site that points its
		// own domain at 127.0.0.1 (DNS rebinding) must not read the store.
		reqHost := r.Host
		if h, _, err := net.SplitHostPort(reqHost); err == nil {
			reqHost = h
		}
		if !remote.IsLoopback() || !isLoopbackHost(reqHost) {
			return nil, http.StatusForbidden, "this UI serves loopback only"
		}
		return &User{Name: "local", Admin: true}, 0, ""
	}
	if !slices.ContainsFunc(a.TrustedProxies, func(p netip.Prefix) bool { return p.Contains(remote) }) {
		// Identity headers from anyone but the proxy are forged: refuse the request outright
		// rather than serve it as anonymous.
		return nil, http.StatusForbidden, "requests must come through the authenticating proxy"
	}
	name := strings.TrimSpace(r.Header.Get(a.userHeader()))
	if name == "" {
		return nil, http.StatusUnauthorized, "the proxy named no user (" + a.userHeader() + ")"
	}
	u := &User{Name: name, Teams: []string{}}
	for _, t := range strings.Split(r.Header.Get(a.teamsHeader()), ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(u.Teams, t) {
			u.Teams = append(u.Teams, t)
		}
	}
	for _, t := range a.AdminTeams {
		if slices.Contains(u.Teams, t) {
			u.Admin = true
		}
	}
	return u, 0, ""
}

// sameToken compares a CSRF token in constant time.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
