//go:build !nospark

// Package spark is the spark engine: the runner talks to a Spark cluster through
// Spark Connect (github.com/apache/spark-connect-go, the protocol of Spark 4.0), so the pod stays
// small and the heavy work runs on the cluster. It provides:
//
//   - sessions: the remote from AIFLOW_SPARK_REMOTE or from AIFLOW_SPARK_CLUSTERS by the node's
//     resources.cluster, token auth, a real connect timeout with retries, release at the end;
//   - readers of pinned inputs, per source kind (the seed's register_spark_source_reader):
//     onelake (a catalog table with a safely quoted partition filter), files, and the committed
//     output of any upstream aiflow node;
//   - the transform runtime: Spark SQL over the inputs registered as temp views, or a Go
//     function registered through plugin/sparkfn; the result is staged as Parquet written by
//     Spark (never collected through the client) and optionally saved to output_table /
//     output_path;
//   - the onelake sink on Spark: tables written through SQL, overwrite replacing only the
//     partitions the run touched, append recorded in the table's properties so a retry does not
//     append twice.
//
// Every file carries the build tag !nospark: `go build -tags nospark` leaves the engine (and
// spark-connect-go) out of a slim runner.
package spark

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/spark-connect-go/spark/client/channel"
	"github.com/apache/spark-connect-go/spark/sparkerrors"
	"github.com/apache/spark-connect-go/spark/sql"
	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/credentials/oauth"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/aiflow-dev/aiflow/fault"
	"github.com/aiflow-dev/aiflow/internal/config"
)

// DefaultConnectTimeout is the connect timeout of Options that set none (AIFLOW_SPARK_CONNECT_TIMEOUT's default).
const DefaultConnectTimeout = 30 * time.Second

// Options say how to reach the cluster.
type Options struct {
	// Remote is the sc:// URL, token included.
	Remote string
	// ConnectTimeout bounds the first round trip, retries included.
	ConnectTimeout time.Duration
	Log            *slog.Logger
}

// ResolveRemote picks the remote of a node: the cluster's entry in AIFLOW_SPARK_CLUSTERS when the
// node names a cluster that is mapped there, else AIFLOW_SPARK_REMOTE. The token of
// AIFLOW_SPARK_TOKEN is added when the remote carries none.
func ResolveRemote(cfg *config.Config, cluster string, log *slog.Logger) (string, error) {
	remote := ""
	switch {
	case cluster != "" && cfg.SparkClusters[cluster] != "":
		remote = cfg.SparkClusters[cluster]
	case cfg.SparkRemote != "":
		remote = cfg.SparkRemote
		if cluster != "" && log != nil {
			log.Info("spark cluster not in AIFLOW_SPARK_CLUSTERS: using AIFLOW_SPARK_REMOTE", "cluster", cluster, "remote", Redact(remote))
		}
	case cluster != "":
		return "", fault.Configf("spark cluster %q has no remote: map it in AIFLOW_SPARK_CLUSTERS (%s=sc://host:15002) or set AIFLOW_SPARK_REMOTE", cluster, cluster)
	default:
		return "", fault.Configf("no Spark Connect remote: set AIFLOW_SPARK_REMOTE=sc://host:15002 (or map resources.cluster in AIFLOW_SPARK_CLUSTERS)")
	}
	if tok := cfg.SparkToken; tok != "" && !strings.Contains(remote, ";token=") {
		if !strings.Contains(strings.TrimPrefix(remote, "sc://"), "/") {
			remote += "/"
		}
		remote += ";token=" + tok
	}
	if _, err := channel.NewBuilder(remote); err != nil {
		return "", fault.Wrap(fault.Config, err, "spark remote %q", Redact(remote))
	}
	return remote, nil
}

var tokenRE = regexp.MustCompile(`(;token=)[^;]*`)

// Redact hides the token of a remote, for messages and logs.
func Redact(remote string) string { return tokenRE.ReplaceAllString(remote, "${1}***") }

// Session is one Spark Connect session of a node. Close releases it on the server.
type Session struct {
	sql.SparkSession
	// Remote is the redacted remote, for messages.
	Remote string
	conn   *channelBuilder
	// raw is the remote as given (token included), for a Python client joining this session.
	raw    string
	log    *slog.Logger
	opened time.Time
}

// Connect opens a session once the server accepts the connection, retrying transient
// failures with backoff until the connect timeout: then it fails with fault.Temporary naming the
// remote (exit 75). Bad remotes are fault.Config; an authentication failure is found (and
// classified fault.Config) by the session's first real call. No query is run to probe the
// server: the node's first call would do the same round trip anyway.
func Connect(ctx context.Context, o Options) (*Session, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	red := Redact(o.Remote)
	cctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	start := time.Now()
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		s, err := open(cctx, o.Remote)
		if err != nil {
			return nil, err
		}
		err = s.probe(cctx)
		if err == nil {
			log.Debug("spark session open", "remote", red, "attempts", attempt, "ms", time.Since(start).Milliseconds())
			s.log, s.opened = log, start
			return s, nil
		}
		s.Close()
		cerr := Classify(err, red)
		if ctx.Err() != nil {
			return nil, fault.Wrap(fault.Temporary, ctx.Err(), "connect to Spark Connect %s", red)
		}
		if fault.ClassOf(cerr) != fault.Temporary {
			return nil, fmt.Errorf("connect to Spark Connect %s: %w", red, cerr)
		}
		left := time.Until(start.Add(o.ConnectTimeout))
		if left <= backoff {
			return nil, fault.Wrap(fault.Temporary, err, "Spark Connect %s did not answer within the connect timeout %s (%d attempts)", red, o.ConnectTimeout, attempt)
		}
		log.Warn("spark connect failed; retrying", "remote", red, "attempt", attempt, "backoff", backoff.String(), "error", err.Error())
		select {
		case <-time.After(backoff):
		case <-cctx.Done():
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func open(ctx context.Context, remote string) (*Session, error) {
	base, err := channel.NewBuilder(remote)
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "spark remote %q", Redact(remote))
	}
	cb := &channelBuilder{BaseBuilder: base}
	s, err := sql.NewSessionBuilder().Remote(remote).WithChannelBuilder(cb).Build(ctx)
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "spark remote %q", Redact(remote))
	}
	return &Session{SparkSession: s, Remote: Redact(remote), conn: cb, raw: remote}, nil
}

// probe waits until the session's connection is established (TCP, TLS, HTTP/2): a server
// that is down or still starting fails it with codes.Unavailable, which Connect retries. It
// runs nothing on the server.
func (s *Session) probe(ctx context.Context) error {
	conn := s.conn.conn
	if conn == nil {
		return status.Error(codes.Unavailable, "no connection")
	}
	conn.Connect()
	for {
		switch st := conn.GetState(); st {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			return status.Errorf(codes.Unavailable, "connection %s", strings.ToLower(st.String()))
		default:
			if !conn.WaitForStateChange(ctx, st) {
				return ctx.Err()
			}
		}
	}
}

// Exec runs statements in order (DDL, SET, INSERT) and classifies the first failure.
func (s *Session) Exec(ctx context.Context, stmts ...string) error {
	for _, q := range stmts {
		if _, err := s.Sql(ctx, q); err != nil {
			return Classify(err, s.Remote)
		}
	}
	return nil
}

// SetConf sets the session's runtime configuration through Spark Connect's Config call, all
// pairs at once: SQL SET statements would be one ExecutePlan each (parse, plan, a result
// stream), one round trip after the other, before the node's first real call. Each pair is its
// own Config call (spark-connect-go sets one pair per request) and they run concurrently, so the
// whole takes one round trip. The first failure is returned, classified like a query's.
func (s *Session) SetConf(ctx context.Context, conf map[string]string) error {
	errs := make(chan error, len(conf))
	for k, v := range conf {
		go func() {
			err := s.Config().Set(ctx, k, v)
			if err != nil {
				// The error a query's call would return: its Spark error class kept for Classify.
				if se := sparkerrors.FromRPCError(err); se != nil {
					err = fmt.Errorf("set %s: %w", k, se)
				}
			}
			errs <- err
		}()
	}
	var first error
	for range conf {
		if err := <-errs; err != nil && first == nil {
			first = Classify(err, s.Remote)
		}
	}
	return first
}

// ServerSessionID is the server-side id of the session, as the server last reported it.
func (s *Session) ServerSessionID() string { return s.conn.ids.server() }

// Close releases the session on the server (its temp views, cached plans) and closes the
// connection. It never fails the node: a server that is gone has nothing to release.
func (s *Session) Close() {
	if s == nil || s.conn == nil || s.conn.conn == nil {
		return
	}
	if s.log != nil {
		s.conn.clock.report(s.log, s.opened)
	}
	if id := s.conn.ids.client(); id != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = releaseSession(ctx, s.conn.conn, id, s.conn.User())
		cancel()
	}
	_ = s.conn.conn.Close()
	s.conn.conn = nil
}

// releaseSession calls SparkConnectService/ReleaseSession. spark-connect-go does not expose it,
// but its generated messages are registered with protobuf, so the request is built by name.
func releaseSession(ctx context.Context, conn *grpc.ClientConn, sessionID, user string) error {
	reqType, err := protoregistry.GlobalTypes.FindMessageByName("spark.connect.ReleaseSessionRequest")
	if err != nil {
		return err
	}
	respType, err := protoregistry.GlobalTypes.FindMessageByName("spark.connect.ReleaseSessionResponse")
	if err != nil {
		return err
	}
	req := reqType.New()
	fields := req.Descriptor().Fields()
	req.Set(fields.ByName("session_id"), protoreflect.ValueOfString(sessionID))
	if f := fields.ByName("user_context"); f != nil {
		uc := req.NewField(f).Message()
		uc.Set(uc.Descriptor().Fields().ByName("user_id"), protoreflect.ValueOfString(user))
		req.Set(f, protoreflect.ValueOfMessage(uc))
	}
	resp := respType.New()
	return conn.Invoke(ctx, "/spark.connect.SparkConnectService/ReleaseSession", req.Interface(), resp.Interface())
}

// sessionIDs tracks the client session id (sent with every request) and the server-side session
// id (returned with every response). The server-side id goes back to the server as
// client_observed_server_side_session_id, so a server that restarted mid-node answers
// INVALID_HANDLE.SESSION_CHANGED instead of silently running the rest of the node in a fresh
// session without the node's temp views.
type sessionIDs struct {
	mu            sync.Mutex
	clientID, srv string
}

func (i *sessionIDs) client() string { i.mu.Lock(); defer i.mu.Unlock(); return i.clientID }
func (i *sessionIDs) server() string { i.mu.Lock(); defer i.mu.Unlock(); return i.srv }

func (i *sessionIDs) outgoing(m any) {
	pm, ok := m.(protoreflect.ProtoMessage)
	if !ok {
		return
	}
	msg := pm.ProtoReflect()
	fields := msg.Descriptor().Fields()
	i.mu.Lock()
	defer i.mu.Unlock()
	if f := fields.ByName("session_id"); f != nil && f.Kind() == protoreflect.StringKind && i.clientID == "" {
		i.clientID = msg.Get(f).String()
	}
	if f := fields.ByName("client_observed_server_side_session_id"); f != nil && i.srv != "" {
		msg.Set(f, protoreflect.ValueOfString(i.srv))
	}
}

func (i *sessionIDs) incoming(m any) {
	pm, ok := m.(protoreflect.ProtoMessage)
	if !ok {
		return
	}
	msg := pm.ProtoReflect()
	f := msg.Descriptor().Fields().ByName("server_side_session_id")
	if f == nil || f.Kind() != protoreflect.StringKind {
		return
	}
	if v := msg.Get(f).String(); v != "" {
		i.mu.Lock()
		if i.srv == "" {
			i.srv = v
		}
		i.mu.Unlock()
	}
}

// channelBuilder is spark-connect-go's BaseBuilder with the session-id interceptors and a handle
// on the connection (to release the session and close it).
type channelBuilder struct {
	*channel.BaseBuilder
	ids   sessionIDs
	clock callClock
	conn  *grpc.ClientConn
}

func (b *channelBuilder) Build(ctx context.Context) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{grpc.WithAuthority(b.Host())}
	if b.Token() == "" {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		roots, err := x509.SystemCertPool()
		if err != nil {
			return nil, err
		}
		opts = append(opts,
			grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})),
			grpc.WithPerRPCCredentials(oauth.TokenSource{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: b.Token(), TokenType: "bearer"})}))
	}
	opts = append(opts,
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, o ...grpc.CallOption) error {
			b.ids.outgoing(req)
			b.clock.begin(method)
			err := invoker(ctx, method, req, reply, cc, o...)
			b.clock.end()
			if err == nil {
				b.ids.incoming(reply)
			}
			return err
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, o ...grpc.CallOption) (grpc.ClientStream, error) {
			b.clock.begin(method)
			cs, err := streamer(ctx, desc, cc, method, o...)
			if err != nil {
				b.clock.end()
				return nil, err
			}
			st := &idStream{ClientStream: cs, ids: &b.ids, clock: &b.clock}
			// A stream its reader abandons before its end (a cancelled node) ends with its context.
			context.AfterFunc(ctx, st.finish)
			return st, nil
		}))
	conn, err := grpc.NewClient(net.JoinHostPort(b.Host(), strconv.Itoa(b.Port())), opts...)
	if err != nil {
		return nil, err
	}
	b.conn = conn
	return conn, nil
}

type idStream struct {
	grpc.ClientStream
	ids   *sessionIDs
	clock *callClock
	once  sync.Once
}

// finish ends the stream's call on the clock, once: at its last message (io.EOF or an error)
// or when its context ends.
func (s *idStream) finish() { s.once.Do(s.clock.end) }

func (s *idStream) SendMsg(m any) error {
	s.ids.outgoing(m)
	return s.ClientStream.SendMsg(m)
}

func (s *idStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil {
		s.ids.incoming(m)
	} else {
		s.finish()
	}
	return err
}

var errNoSession = errors.New("no spark session")

// callClock measures what the node spends inside Spark Connect calls, so a node's own cost
// (start, ledger, IR, reading footers, the manifest) can be told from the Spark work it waits
// for, even on a loaded machine: the calls made, the ExecutePlan ones among them (the queries,
// commands and jobs the node ran), and the wall time during which at least one call was in
// flight. Session.Close logs it ("spark calls").
type callClock struct {
	mu          sync.Mutex
	inflight    int
	since       time.Time // start of the current busy stretch
	busy        time.Duration
	first, last time.Time
	calls       int
	executes    int
	now         func() time.Time // time.Now; tests set a fake clock
}

func (c *callClock) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *callClock) begin(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	if c.first.IsZero() {
		c.first = now
	}
	c.calls++
	if strings.HasSuffix(method, "/ExecutePlan") {
		c.executes++
	}
	if c.inflight == 0 {
		c.since = now
	}
	c.inflight++
}

func (c *callClock) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	if c.inflight == 0 {
		return
	}
	c.inflight--
	if c.inflight == 0 {
		c.busy += now.Sub(c.since)
	}
	c.last = now
}

// report logs the calls of the session opened at opened: in_spark_ms is the wall time with a
// call in flight; before_first_ms runs from the process start to the first call (runner start,
// IR, ledger, connect), session_ms from the connect to the session's close.
func (c *callClock) report(log *slog.Logger, opened time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	busy := c.busy
	if c.inflight > 0 {
		busy += now.Sub(c.since)
	}
	args := []any{"calls", c.calls, "execute_plan", c.executes, "in_spark_ms", busy.Milliseconds(),
		"session_ms", now.Sub(opened).Milliseconds()}
	if !c.first.IsZero() {
		args = append(args, "before_first_ms", c.first.Sub(processStart).Milliseconds(),
			"after_last_ms", now.Sub(c.last).Milliseconds())
	}
	log.Info("spark calls", args...)
}

// processStart is close to the runner's start (package initialization).
var processStart = time.Now()
