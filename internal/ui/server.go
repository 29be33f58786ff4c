package ui

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/metadata"
	"github.com/aiflow-dev/aiflow/ir"
	"github.com/aiflow-dev/aiflow/plugin"
)

//go:embed assets
var assets embed.FS

// Config is what the UI serves.
type Config struct {
	// Store is the metadata store it reads (not closed by the server).
	Store metadata.Store
	// Registry holds the plugin specs the authoring forms are generated from.
	Registry *plugin.Registry
	// Envs are the environments a pipeline may name (AIFLOW_ENVS).
	Envs []string
	// SpecsDir, when set, is the only folder authoring reads specs from and saves them to;
	// without it the UI is read-only (a draft can still be validated and downloaded).
	SpecsDir string
	Auth     Auth
}

// Server is the web UI: an embedded single-page application and the JSON API it reads.
type Server struct {
	cfg    Config
	csrf   string
	mux    *http.ServeMux
	static http.Handler

	mu  sync.Mutex
	irs map[string]*ir.Pipeline // by ir_hash: a version never changes, so it is parsed once
}

// New returns the UI server of cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Registry == nil {
		return nil, errors.New("ui: a store and a plugin registry are required")
	}
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return nil, fault.Wrap(fault.Internal, err, "ui: CSRF token")
	}
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "ui: assets")
	}
	s := &Server{cfg: cfg, csrf: hex.EncodeToString(tok), mux: http.NewServeMux(),
		static: http.FileServerFS(sub), irs: map[string]*ir.Pipeline{}}
	s.routes()
	return s, nil
}

// Serve serves the UI on addr until ctx ends. A non-loopback addr without authentication is a
// configuration error: the UI refuses to start rather than show every team's runs to a network.
func Serve(ctx context.Context, addr string, cfg Config, ready func(net.Addr)) error {
	if err := cfg.Auth.checkAddr(addr); err != nil {
		return err
	}
	s, err := New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fault.Wrap(fault.Config, err, "ui: listen on %s", addr)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fault.Wrap(fault.Temporary, err, "ui: serve")
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shut)
	}
}

// ServeHTTP authenticates every request, sets the headers that keep the pages inert to injected
// content, and checks the CSRF token of every request that changes something.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Scripts only from this origin, no inline script or style: a pipeline id or param holding
	// markup is text wherever it lands, and could not run even if it were not.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	u, code, why := s.cfg.Auth.identify(r)
	if u == nil {
		writeErr(w, code, why)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// Double protection against cross-site requests: a token only this origin's pages can
		// read (from /api/me), and an Origin, when the browser sends one, that is this host.
		if !sameToken(r.Header.Get("X-CSRF-Token"), s.csrf) {
			writeErr(w, http.StatusForbidden, "missing or wrong CSRF token")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
			writeErr(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			writeErr(w, http.StatusUnsupportedMediaType, "want application/json")
			return
		}
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
}

type userKey struct{}

func userOf(r *http.Request) *User { return r.Context().Value(userKey{}).(*User) }

// store is the metadata store as r's user may read it.
func (s *Server) store(r *http.Request) metadata.Store {
	return metadata.Scoped(s.cfg.Store, userOf(r).scope())
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /api/me", s.me)
	m.HandleFunc("GET /api/pipelines", s.pipelines)
	m.HandleFunc("GET /api/pipelines/{id}", s.pipeline)
	m.HandleFunc("GET /api/pipelines/{id}/nodes/{node}/attempts", s.nodeAttempts)
	m.HandleFunc("GET /api/runs", s.runs)
	m.HandleFunc("GET /api/runs/{pipeline}/{run}", s.run)
	m.HandleFunc("GET /api/streams", s.streams)
	m.HandleFunc("GET /api/lineage", s.lineage)
	m.HandleFunc("GET /api/usage", s.usage)
	m.HandleFunc("GET /api/plugins", s.plugins)
	m.HandleFunc("GET /api/specs", s.specs)
	m.HandleFunc("GET /api/specs/{name}", s.spec)
	m.HandleFunc("POST /api/specs/{name}", s.saveSpec)
	m.HandleFunc("POST /api/check", s.check)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) { writeErr(w, http.StatusNotFound, "no such API") })
	m.Handle("GET /assets/", http.StripPrefix("/assets", s.static))
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, err := assets.ReadFile("assets/index.html")
		if err != nil {
			writeErr(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(b)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		// The header is out: nothing better to do than end the body.
		fmt.Fprintf(w, "\n")
	}
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// fail maps a store or spec error to its HTTP status: not found, usage (400), configuration
// (422), temporary (503), else 500.
func fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, metadata.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		code = http.StatusNotFound
	case fault.ClassOf(err) == fault.Usage:
		code = http.StatusBadRequest
	case fault.ClassOf(err) == fault.Config:
		code = http.StatusUnprocessableEntity
	case fault.ClassOf(err) == fault.Temporary:
		code = http.StatusServiceUnavailable
	}
	writeErr(w, code, err.Error())
}
