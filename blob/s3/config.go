package s3

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
)

// Config names a bucket and how to reach it. Parse fills it from the
// --blobs URL; the credentials come from the caller (main reads
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), never from the URL, so that
// they are neither on a command line nor in a log.
type Config struct {
	// Bucket is required; it must exist.
	Bucket string
	// Prefix is put before every key, to share a bucket ("" : none; when
	// set, it ends with '/').
	Prefix string
	// Endpoint is host[:port]; "": s3.amazonaws.com.
	Endpoint string
	// Secure is HTTPS to the endpoint (an https:// endpoint, or none).
	Secure bool
	// Region; "": us-east-1.
	Region string
	// PathStyle: "" lets the client choose (path style for endpoints that
	// are not AWS's), "true" or "false" force it.
	PathStyle string
	// AccessKey and SecretKey sign the requests. Both empty: anonymous.
	AccessKey string
	SecretKey string
	// TempDir holds the parts of staged uploads while they are sent; "":
	// the system's.
	TempDir string
	// MaxUploadSize is the largest staged upload whose size is not known at
	// its creation; it chooses such an upload's part size (S3 allows 10,000
	// parts). 0: 5 TiB, S3's largest object.
	MaxUploadSize int64
	// ListPartsPage is how many parts one ListParts request asks for; 0:
	// 1000 (S3's most). Tests make it small to prove the pagination.
	ListPartsPage int
}

// String describes the configuration for logs; the secret is never in it.
func (c Config) String() string {
	scheme := "http"
	if c.Secure {
		scheme = "https"
	}
	secret := ""
	if c.SecretKey != "" {
		secret = " secret=(set)"
	}
	return fmt.Sprintf("s3://%s/%s endpoint=%s://%s region=%s access_key=%q%s", c.Bucket, c.Prefix, scheme, c.endpoint(), c.region(), c.AccessKey, secret)
}

// GoString keeps %#v from printing the secret.
func (c Config) GoString() string { return c.String() }

// LogValue keeps slog from printing the secret.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c Config) endpoint() string {
	if c.Endpoint == "" {
		return "s3.amazonaws.com"
	}
	return c.Endpoint
}

func (c Config) region() string {
	if c.Region == "" {
		return "us-east-1"
	}
	return c.Region
}

// Parse reads s3://BUCKET[/PREFIX]?endpoint=URL&region=R&path-style=BOOL.
// endpoint is http://host:port or https://host:port (a bare host:port
// means https); without it the bucket is on AWS. Unknown parameters, a
// malformed bucket name, credentials in the URL or an endpoint with a path
// are refused with an error saying which.
func Parse(raw string) (Config, error) {
	var c Config
	u, err := url.Parse(raw)
	if err != nil {
		return c, fmt.Errorf("blobs URL: %w", err)
	}
	if u.Scheme != "s3" {
		return c, fmt.Errorf("blobs URL %q: scheme must be s3://", redactURL(u))
	}
	if u.User != nil {
		return c, errors.New("blobs URL: credentials do not go in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	c.Bucket = u.Host
	if err := checkBucket(c.Bucket); err != nil {
		return c, err
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		c.Prefix = p + "/"
	}
	c.Secure = true
	for k, vs := range u.Query() {
		if len(vs) != 1 {
			return c, fmt.Errorf("blobs URL: parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "endpoint":
			e := v
			if !strings.Contains(e, "://") {
				e = "https://" + e
			}
			eu, err := url.Parse(e)
			if err != nil || eu.Host == "" {
				return c, fmt.Errorf("blobs URL: endpoint %q: want http://host:port or https://host:port", v)
			}
			if eu.User != nil {
				return c, errors.New("blobs URL: credentials do not go in the endpoint; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
			}
			if (eu.Path != "" && eu.Path != "/") || eu.RawQuery != "" {
				return c, fmt.Errorf("blobs URL: endpoint %q: no path or query allowed", v)
			}
			switch eu.Scheme {
			case "http":
				c.Secure = false
			case "https":
			default:
				return c, fmt.Errorf("blobs URL: endpoint scheme %q: want http or https", eu.Scheme)
			}
			c.Endpoint = eu.Host
		case "region":
			if v == "" {
				return c, errors.New("blobs URL: empty region")
			}
			c.Region = v
		case "path-style":
			if _, err := strconv.ParseBool(v); err != nil {
				return c, fmt.Errorf("blobs URL: path-style %q: want true or false", v)
			}
			b, _ := strconv.ParseBool(v)
			c.PathStyle = strconv.FormatBool(b)
		default:
			return c, fmt.Errorf("blobs URL: unknown parameter %q (known: endpoint, region, path-style)", k)
		}
	}
	return c, nil
}

func redactURL(u *url.URL) string {
	r := *u
	r.User = nil
	return r.String()
}

// checkBucket applies S3's bucket naming rules.
func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("blobs URL: bucket %q: 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("blobs URL: bucket %q: only lowercase letters, digits, '-' and '.'", b)
		}
	}
	if first, last := b[0], b[len(b)-1]; first == '-' || first == '.' || last == '-' || last == '.' {
		return fmt.Errorf("blobs URL: bucket %q: must start and end with a letter or digit", b)
	}
	return nil
}
