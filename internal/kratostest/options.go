package kratostest

import (
	"net/http"
	"testing"
	"time"

	client "github.com/ory/client-go"
)

// Option configures Start.
type Option func(*options)

type options struct {
	schemas []schema
}

type schema struct {
	id     string
	schema []byte
}

// WithSchema adds an identity schema with this id (besides "default", the
// one with a top-level email trait), for identities made with
// CreateIdentityWithTraits.
func WithSchema(id string, jsonSchema []byte) Option {
	return func(o *options) { o.schemas = append(o.schemas, schema{id: id, schema: jsonSchema}) }
}

// EmailsSchema is an identity schema whose addresses live in an array,
// traits.emails, each a password identifier, a recovery and a verification
// address. Pass it, as bytes, to WithSchema.
const EmailsSchema = `{
  "$id": "https://orybot.test/kratostest/emails.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "emails": {
          "type": "array",
          "minItems": 1,
          "items": {
            "type": "string",
            "format": "email",
            "ory.sh/kratos": {
              "credentials": { "password": { "identifier": true } },
              "recovery": { "via": "email" },
              "verification": { "via": "email" }
            }
          }
        }
      },
      "required": ["emails"],
      "additionalProperties": false
    }
  }
}`

// CreateIdentityWithTraits creates an active identity of schema schemaID
// with these traits and the password Password, and returns its id.
func (s *Server) CreateIdentityWithTraits(t testing.TB, schemaID string, traits map[string]any) string {
	t.Helper()
	body := client.CreateIdentityBody{
		SchemaId: schemaID,
		State:    new("active"),
		Traits:   traits,
		Credentials: &client.IdentityWithCredentials{
			Password: &client.IdentityWithCredentialsPassword{
				Config: &client.IdentityWithCredentialsPasswordConfig{Password: new(Password)},
			},
		},
	}
	id, resp, err := s.admin.IdentityAPI.CreateIdentity(ctx(t)).CreateIdentityBody(body).Execute()
	if err != nil {
		t.Fatalf("kratostest: create identity: %v", describe(resp, err))
	}
	return id.Id
}

// LoginWithUserAgent is Login from a device that sends userAgent, which
// Kratos records with the session.
func (s *Server) LoginWithUserAgent(t testing.TB, email, userAgent string) (sessionID, token string) {
	t.Helper()
	cfg := client.NewConfiguration()
	cfg.Servers = client.ServerConfigurations{{URL: s.PublicURL}}
	cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	cfg.UserAgent = userAgent
	return s.login(t, client.NewAPIClient(cfg), email)
}
