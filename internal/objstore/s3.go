package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/aiflow-dev/aiflow/fault"
)

type s3Driver struct {
	c    *s3.Client
	opts Options
}

var _ driver = (*s3Driver)(nil)

func newS3Driver(o Options) (*s3Driver, error) {
	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = o.ConnectTimeout }).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = o.ConnectTimeout
			t.ResponseHeaderTimeout = o.ResponseTimeout
			t.MaxIdleConnsPerHost = 32
		})
	retryer := func() aws.Retryer {
		r := retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = o.MaxAttempts
			so.MaxBackoff = o.MaxBackoff
			so.RateLimiter = ratelimit.None
		})
		if o.Log == nil {
			return r
		}
		return loggingRetryer{r, o}
	}
	lopts := []func(*config.LoadOptions) error{
		config.WithRetryer(retryer),
		config.WithHTTPClient(httpClient),
		config.WithRegion(o.Region),
	}
	if o.AccessKeyID != "" && o.SecretAccessKey != "" {
		lopts = append(lopts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), lopts...)
	if err != nil {
		return nil, fault.Wrap(fault.Config, err, "s3 config")
	}
	if o.S3Endpoint != "" {
		if u, err := url.Parse(o.S3Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fault.Configf("s3 config: AIFLOW_S3_ENDPOINT=%q is not a URL like http://host:port", o.S3Endpoint)
		}
	}
	c := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.S3Endpoint != "" {
			so.BaseEndpoint = aws.String(o.S3Endpoint)
			so.UsePathStyle = true
		}
		// S3-compatible servers (versitygw, gofakes3, older MinIO) do not all accept the
		// default CRC trailers of recent SDKs; checksum only where the API requires it.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &s3Driver{c: c, opts: o}, nil
}

// s3Err classifies an S3 error. Missing keys → Data/ErrNotExist; failed preconditions → Data/ErrExist
// (PutIfAbsent) or Data "changed" (reads pinned to an ETag); credentials, missing buckets and other
// 4xx → Config; throttling, 5xx, timeouts, refused connections (after the retryer gave up) → Temporary.
func s3Err(err error, op, uri string) error {
	if err == nil {
		return nil
	}
	if fault.IsCancel(err) {
		return fault.Wrap(fault.Temporary, err, "%s %s", op, uri)
	}
	if fault.Classified(err) {
		return err
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case credentialCode(code):
		// Before the 404 case: some gateways (versitygw) answer an unknown access key with 404.
		return fault.Wrap(fault.Config, err, "%s %s: credentials refused (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)", op, uri)
	case code == "NoSuchKey" || code == "NotFound" || (status == 404 && code != "NoSuchBucket"):
		return notExist(op, uri)
	case code == "NoSuchBucket":
		return fault.Wrap(fault.Config, err, "%s %s: bucket does not exist", op, uri)
	case code == "PreconditionFailed" || status == 412 || code == "ConditionalRequestConflict":
		if op == "put" {
			return exists(op, uri)
		}
		return fault.Wrap(fault.Data, err, "%s %s: object changed while reading", op, uri)
	case code == "SlowDown" || code == "Throttling" || code == "ThrottlingException" ||
		code == "RequestTimeout" || code == "RequestTimeTooSkewed" || status == 429 || status >= 500:
		return fault.Wrap(fault.Temporary, err, "%s %s", op, uri)
	case status >= 400:
		return fault.Wrap(fault.Config, err, "%s %s", op, uri)
	}
	// No HTTP response: connection refused, reset, DNS, timeouts, retry attempts exhausted.
	return fault.Wrap(fault.Temporary, err, "%s %s", op, uri)
}

// loggingRetryer logs every retry of an S3 request: without it a hung endpoint keeps a node
// silent for MaxAttempts × ResponseTimeout.
type loggingRetryer struct {
	aws.Retryer
	o Options
}

func (l loggingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, rerr := l.Retryer.RetryDelay(attempt, err)
	if rerr == nil {
		l.o.Log.Warn("S3 request failed, retrying", "endpoint", l.o.S3Endpoint, "attempt", attempt, "max_attempts", l.o.MaxAttempts,
			"response_timeout", l.o.ResponseTimeout.String(), "error", err)
	}
	return d, rerr
}

// credentialCode: S3 error codes that mean the credentials are wrong, whatever the status.
func credentialCode(code string) bool {
	switch code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "XAdminUserNotFound", "InvalidToken", "ExpiredToken",
		"TokenRefreshRequired", "AuthorizationHeaderMalformed", "InvalidSecurity", "AccessDenied":
		return true
	}
	return false
}

func etag(s *string) string { return strings.Trim(aws.ToString(s), `"`) }

func (d *s3Driver) list(ctx context.Context, l loc, recursive bool) ([]ObjectInfo, []string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(l.bucket), Prefix: aws.String(l.key)}
	if !recursive {
		in.Delimiter = aws.String("/")
	}
	var objs []ObjectInfo
	var dirs []string
	p := s3.NewListObjectsV2Paginator(d.c, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, s3Err(err, "list", l.String())
		}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			if strings.HasSuffix(k, "/") {
				continue // folder marker
			}
			objs = append(objs, ObjectInfo{
				URI:     "s3://" + l.bucket + "/" + k,
				Size:    aws.ToInt64(o.Size),
				ETag:    etag(o.ETag),
				ModTime: aws.ToTime(o.LastModified),
			})
		}
		for _, cp := range out.CommonPrefixes {
			dirs = append(dirs, "s3://"+l.bucket+"/"+aws.ToString(cp.Prefix))
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].URI < objs[j].URI })
	sort.Strings(dirs)
	return objs, dirs, nil
}

func (d *s3Driver) stat(ctx context.Context, l loc) (ObjectInfo, error) {
	if l.key == "" || l.dir {
		return ObjectInfo{}, notExist("stat", l.String())
	}
	out, err := d.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key)})
	if err != nil {
		err = s3Err(err, "stat", l.String())
		if errors.Is(err, ErrNotExist) {
			// A HEAD answer has no body, so a gateway that answers bad credentials with 404 looks
			// like a missing object: ask once more with a request whose error has a code.
			_, lerr := d.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(l.bucket), Prefix: aws.String(l.key), MaxKeys: aws.Int32(1)})
			if lerr = s3Err(lerr, "stat", l.String()); lerr != nil && fault.ClassOf(lerr) == fault.Config {
				return ObjectInfo{}, lerr
			}
		}
		return ObjectInfo{}, err
	}
	return ObjectInfo{URI: l.String(), Size: aws.ToInt64(out.ContentLength), ETag: etag(out.ETag), ModTime: aws.ToTime(out.LastModified)}, nil
}

func (d *s3Driver) newReader(ctx context.Context, l loc) (*Reader, error) {
	info, err := d.stat(ctx, l)
	if err != nil {
		return nil, err
	}
	uri := l.String()
	fetch := func(p []byte, off int64) error {
		in := &s3.GetObjectInput{
			Bucket: aws.String(l.bucket),
			Key:    aws.String(l.key),
			Range:  aws.String(fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1)),
		}
		if info.ETag != "" {
			in.IfMatch = aws.String(`"` + info.ETag + `"`)
		}
		out, err := d.c.GetObject(ctx, in)
		if err != nil {
			return s3Err(err, "get", uri)
		}
		defer out.Body.Close()
		if _, err := io.ReadFull(out.Body, p); err != nil {
			return classifyRead(err, uri)
		}
		return nil
	}
	ra := &readAheadAt{fetch: fetch, size: info.Size, window: d.opts.ReadAhead}
	return &Reader{ra: ra, info: info}, nil
}

func (d *s3Driver) stream(ctx context.Context, l loc) (io.ReadCloser, ObjectInfo, error) {
	out, err := d.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key)})
	if err != nil {
		return nil, ObjectInfo{}, s3Err(err, "get", l.String())
	}
	info := ObjectInfo{URI: l.String(), Size: aws.ToInt64(out.ContentLength), ETag: etag(out.ETag), ModTime: aws.ToTime(out.LastModified)}
	return &bodyReader{rc: out.Body, uri: info.URI}, info, nil
}

// bodyReader classifies errors from a GET body (a reset connection is Temporary).
type bodyReader struct {
	rc  io.ReadCloser
	uri string
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = classifyRead(err, b.uri)
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.rc.Close() }

// readChunk reads up to n bytes of r into buf (reused); full reports that n bytes were read, so r
// may have more.
func readChunk(r io.Reader, buf *bytes.Buffer, n int64) (full bool, err error) {
	buf.Reset()
	m, err := buf.ReadFrom(io.LimitReader(r, n))
	return m == n, err
}

func (d *s3Driver) put(ctx context.Context, l loc, r io.Reader, ifAbsent bool) error {
	uri := l.String()
	if ifAbsent {
		if _, err := d.stat(ctx, l); err == nil {
			return exists("put", uri)
		} else if !errors.Is(err, ErrNotExist) {
			return err
		}
	}
	var buf bytes.Buffer
	full, err := readChunk(r, &buf, d.opts.PartSize)
	if err != nil {
		return readerErr(err, uri)
	}
	if !full {
		in := &s3.PutObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key), Body: bytes.NewReader(buf.Bytes()), ContentLength: aws.Int64(int64(buf.Len()))}
		if ifAbsent {
			in.IfNoneMatch = aws.String("*")
		}
		_, err := d.c.PutObject(ctx, in)
		return s3Err(err, "put", uri)
	}
	return d.multipart(ctx, l, r, &buf, ifAbsent)
}

func readerErr(err error, uri string) error {
	return fault.WrapOr(fault.Internal, err, "put %s: read input", uri)
}

// multipart uploads buf (a full first part) and the rest of r, one part in memory at a time.
func (d *s3Driver) multipart(ctx context.Context, l loc, r io.Reader, buf *bytes.Buffer, ifAbsent bool) (err error) {
	uri := l.String()
	cr, err := d.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key)})
	if err != nil {
		return s3Err(err, "put", uri)
	}
	id := cr.UploadId
	defer func() {
		if err != nil {
			// Best effort, detached from a possibly cancelled ctx.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			d.c.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key), UploadId: id})
			cancel()
		}
	}()
	var parts []types.CompletedPart
	for n, full := int32(1), true; ; n++ {
		out, err := d.c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(l.bucket), Key: aws.String(l.key), UploadId: id, PartNumber: aws.Int32(n),
			Body: bytes.NewReader(buf.Bytes()), ContentLength: aws.Int64(int64(buf.Len())),
		})
		if err != nil {
			return s3Err(err, "put", uri)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
		if !full {
			break
		}
		// Parts grow every 1000 so that 10,000 parts reach past 80 GiB.
		if full, err = readChunk(r, buf, d.opts.PartSize*int64(1+n/1000)); err != nil {
			return readerErr(err, uri)
		}
		if buf.Len() == 0 {
			break
		}
	}
	in := &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(l.bucket), Key: aws.String(l.key), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := d.c.CompleteMultipartUpload(ctx, in); err != nil {
		return s3Err(err, "put", uri)
	}
	return nil
}

func (d *s3Driver) delete(ctx context.Context, l loc) error {
	_, err := d.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(l.key)})
	if err := s3Err(err, "delete", l.String()); err != nil && !errors.Is(err, ErrNotExist) {
		return err
	}
	return nil
}

func (d *s3Driver) deleteAll(ctx context.Context, l loc, objs []ObjectInfo) error {
	for len(objs) > 0 {
		n := min(len(objs), 1000)
		ids := make([]types.ObjectIdentifier, n)
		for i, o := range objs[:n] {
			ol, _ := parse(o.URI)
			ids[i] = types.ObjectIdentifier{Key: aws.String(ol.key)}
		}
		out, err := d.c.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(l.bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return s3Err(err, "delete", l.String())
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				continue
			}
			return fault.Temporaryf("delete s3://%s/%s: %s: %s", l.bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		objs = objs[n:]
	}
	return nil
}

func (d *s3Driver) copy(ctx context.Context, src, dst loc) error {
	_, err := d.c.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:     aws.String(dst.bucket),
		Key:        aws.String(dst.key),
		CopySource: aws.String(url.PathEscape(src.bucket) + "/" + escapeKey(src.key)),
	})
	return s3Err(err, "copy "+src.String()+" to", dst.String())
}

func escapeKey(k string) string {
	segs := strings.Split(k, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
