package decode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultRegistryTimeout bounds one registry request when NewRegistry is
// given no client.
const DefaultRegistryTimeout = 10 * time.Second

// maxSchemaResponse bounds the size of a registry response body.
const maxSchemaResponse = 8 << 20

// maxNotFound bounds the number of unknown schema ids remembered, so that
// garbage ids neither hammer the registry nor grow memory without bound.
const maxNotFound = 1024

// DefaultNotFoundFor is how long an id the registry reported as unknown
// is remembered as such: records with it are bad records without a
// request each, and a schema registered a moment later is found.
const DefaultNotFoundFor = 5 * time.Second

// Registry fetches Avro writer schemas by id from a Confluent schema
// registry (GET {url}/schemas/ids/{id}) and caches them. Schemas are
// immutable per id, so found schemas (and schemas it cannot read) are
// cached forever; ids the registry reports as not found (HTTP 404) are
// remembered for NotFoundFor; other failures are retried by the next
// lookup. Concurrent lookups of one id share one request. A Registry is
// safe for concurrent use.
//
// Errors say what kind of failure they are, for errors.Is:
// ErrSchemaNotFound and ErrSchemaUnsupported (a bad record),
// ErrRegistryUnavailable (an outage: try again later) and
// ErrRegistryRefused (the credentials).
type Registry struct {
	base     *url.URL
	username string
	password string
	client   *http.Client
	// NotFoundFor is how long an unknown id is remembered; set it before
	// the first lookup (default DefaultNotFoundFor).
	NotFoundFor time.Duration

	mu       sync.Mutex
	schemas  map[int32]*regEntry
	notFound map[int32]notFound
}

// notFound is an id the registry did not know, and when it said so.
type notFound struct {
	err error
	at  time.Time
}

// regEntry is one id's lookup; done is closed when schema or err is set.
type regEntry struct {
	done   chan struct{}
	schema string
	err    error
}

// NewRegistry returns a registry client for the registry at baseURL. When
// username is set, requests use HTTP basic auth. A nil client means an
// http.Client with DefaultRegistryTimeout. The password never appears in
// errors.
func NewRegistry(baseURL, username, password string, client *http.Client) (*Registry, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("schema registry URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("schema registry URL %q: scheme must be http or https", u.Redacted())
	}
	if client == nil {
		client = &http.Client{Timeout: DefaultRegistryTimeout}
	}
	return &Registry{
		base: u, username: username, password: password, client: client,
		NotFoundFor: DefaultNotFoundFor,
		schemas:     make(map[int32]*regEntry),
		notFound:    make(map[int32]notFound),
	}, nil
}

// Schema returns the Avro schema text registered under id.
func (r *Registry) Schema(ctx context.Context, id int32) (string, error) {
	r.mu.Lock()
	if nf, ok := r.notFound[id]; ok {
		if time.Since(nf.at) < r.NotFoundFor {
			r.mu.Unlock()
			return "", nf.err
		}
		delete(r.notFound, id)
	}
	e := r.schemas[id]
	if e == nil {
		e = &regEntry{done: make(chan struct{})}
		r.schemas[id] = e
		// Fetch in the background without the caller's cancellation: other
		// callers may wait for this entry. The client's timeout bounds it.
		go r.fill(context.WithoutCancel(ctx), id, e)
	}
	r.mu.Unlock()
	select {
	case <-e.done:
		return e.schema, e.err
	case <-ctx.Done():
		return "", fmt.Errorf("schema registry: schema id %d: %w: %w", id, ErrRegistryUnavailable, ctx.Err())
	}
}

// registryError is the body of a registry error response.
type registryError struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

// fill fetches one id's schema into e. A failure removes e so that the
// next lookup retries, except that an unknown id is remembered for a
// while and a schema that cannot be read for good (it never changes).
func (r *Registry) fill(ctx context.Context, id int32, e *regEntry) {
	e.schema, e.err = r.fetch(ctx, id)
	r.mu.Lock()
	switch {
	case e.err == nil, errors.Is(e.err, ErrSchemaUnsupported):
	case errors.Is(e.err, ErrSchemaNotFound):
		delete(r.schemas, id)
		if len(r.notFound) >= maxNotFound {
			clear(r.notFound)
		}
		r.notFound[id] = notFound{e.err, time.Now()}
	default:
		delete(r.schemas, id)
	}
	r.mu.Unlock()
	close(e.done)
}

func (r *Registry) fetch(ctx context.Context, id int32) (string, error) {
	u := r.base.JoinPath("schemas", "ids", strconv.FormatInt(int64(id), 10))
	errf := func(format string, args ...any) error {
		return fmt.Errorf("schema registry %s: schema id %d: "+format, append([]any{r.base.Redacted(), id}, args...)...)
	}
	unavailable := func(format string, args ...any) error {
		return errf("%w: "+format, append([]any{ErrRegistryUnavailable}, args...)...)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", errf("%w", err)
	}
	req.Header.Set("Accept", "application/vnd.schemaregistry.v1+json, application/json")
	if r.username != "" {
		req.SetBasicAuth(r.username, r.password)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return "", unavailable("%w", err) // net/http redacts passwords in URLs
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSchemaResponse+1))
	if err != nil {
		return "", unavailable("reading response: %w", err)
	}
	if len(body) > maxSchemaResponse {
		return "", unavailable("response larger than %d bytes", maxSchemaResponse)
	}
	if resp.StatusCode != http.StatusOK {
		var re registryError
		_ = json.Unmarshal(body, &re)
		msg := re.Message
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		switch {
		case resp.StatusCode == http.StatusNotFound || re.ErrorCode == 40403:
			return "", errf("%w: %s (HTTP %d, error_code %d)", ErrSchemaNotFound, msg, resp.StatusCode, re.ErrorCode)
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return "", errf("%w: %s (HTTP %d, error_code %d): check registry.username and password", ErrRegistryRefused, msg, resp.StatusCode, re.ErrorCode)
		}
		return "", unavailable("%s (HTTP %d, error_code %d)", msg, resp.StatusCode, re.ErrorCode)
	}
	var sr struct {
		Schema     string            `json:"schema"`
		SchemaType string            `json:"schemaType"`
		References []json.RawMessage `json:"references"`
	}
	if err := json.Unmarshal(body, &sr); err != nil {
		// Not a registry's answer (a proxy's page?): try again later.
		return "", unavailable("bad response: %w", err)
	}
	if sr.SchemaType != "" && sr.SchemaType != "AVRO" {
		return "", errf("%w: schema type %s is not supported, only AVRO", ErrSchemaUnsupported, sr.SchemaType)
	}
	if len(sr.References) > 0 {
		return "", errf("%w: schema references are not supported", ErrSchemaUnsupported)
	}
	if sr.Schema == "" {
		return "", unavailable("response has no schema")
	}
	return sr.Schema, nil
}
