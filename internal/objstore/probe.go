package objstore

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"

	"github.com/aiflow-dev/aiflow/fault"
)

// CheckPutIfAbsent verifies, once per bucket and Store, that the storage under dir really
// refuses to overwrite an object on a conditional create. PutIfAbsent's HEAD check catches an
// object that existed before the call, but only the endpoint's If-None-Match stops two writers
// racing for one key; a protocol whose correctness rests on that (a Delta commit) must not run
// on an endpoint that ignores the header. file:// always qualifies (link(2)).
func (s *Store) CheckPutIfAbsent(ctx context.Context, dir string) error {
	d, l, err := s.driver(dir)
	if err != nil {
		return err
	}
	s3d, ok := d.(*s3Driver)
	if !ok {
		return nil
	}
	if v, ok := s.probed.Load(l.bucket); ok {
		return v.(probeResult).err
	}
	key := strings.TrimSuffix(l.key, "/") + "/.aiflow-put-if-absent-probe-" + uuid.NewString()
	key = strings.TrimPrefix(key, "/")
	put := func() error {
		_, err := s3d.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(l.bucket), Key: aws.String(key),
			Body: strings.NewReader("probe"), ContentLength: aws.Int64(5), IfNoneMatch: aws.String("*")})
		return s3Err(err, "put", "s3://"+l.bucket+"/"+key)
	}
	if err := put(); err != nil {
		return err // not cached: a temporary failure may pass next time
	}
	second := put()
	_ = s3d.delete(context.WithoutCancel(ctx), loc{scheme: "s3", bucket: l.bucket, key: key})
	var res probeResult
	switch {
	case second == nil:
		res.err = fault.Configf("the S3 endpoint of bucket %s ignores conditional writes (PutObject with If-None-Match: *): "+
			"two writers could both commit the same table version there; use an endpoint that supports them (AWS S3, MinIO, versitygw)", l.bucket)
	case errors.Is(second, ErrExist):
	default:
		return second
	}
	s.probed.Store(l.bucket, res)
	return res.err
}

type probeResult struct{ err error }
