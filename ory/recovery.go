package ory

import (
	"context"
	"fmt"
	"net/http"
	"time"

	client "github.com/ory/client-go"
)

// RecoveryLink creates a one-time link that logs the identity in and lets
// it set a new password. expiresIn is rounded up to whole seconds; zero
// means Kratos's configured lifespan. The link is a secret: hand it only to
// the user and never log it.
//
// Creating a link is not repeated after a 5xx or a network failure, since
// the first attempt may have created a link the caller never saw.
func (c *Client) RecoveryLink(ctx context.Context, identityID string, expiresIn time.Duration) (link string, expiresAt time.Time, err error) {
	if !validUUID(identityID) {
		return "", time.Time{}, fmt.Errorf("create recovery link: %w", ErrInvalidID)
	}
	op := "create recovery link for identity " + identityID
	body := client.CreateRecoveryLinkForIdentityBody{IdentityId: identityID}
	if body.ExpiresIn, err = expiresInParam(op, expiresIn); err != nil {
		return "", time.Time{}, err
	}
	var got *client.RecoveryLinkForIdentity
	err = c.do(ctx, call{name: "recovery_link", op: op}, func(ctx context.Context) (resp *http.Response, err error) {
		got, resp, err = c.api.IdentityAPI.CreateRecoveryLinkForIdentity(ctx).CreateRecoveryLinkForIdentityBody(body).Execute()
		return resp, err
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return got.RecoveryLink, got.GetExpiresAt(), nil
}

// RecoveryCode creates a one-time recovery code and the link of the
// recovery page where the user enters it. expiresIn is as for RecoveryLink.
// The code is a secret: never log it. Like RecoveryLink, it is not retried
// after a 5xx or a network failure.
func (c *Client) RecoveryCode(ctx context.Context, identityID string, expiresIn time.Duration) (link, code string, expiresAt time.Time, err error) {
	if !validUUID(identityID) {
		return "", "", time.Time{}, fmt.Errorf("create recovery code: %w", ErrInvalidID)
	}
	op := "create recovery code for identity " + identityID
	body := client.CreateRecoveryCodeForIdentityBody{IdentityId: identityID}
	if body.ExpiresIn, err = expiresInParam(op, expiresIn); err != nil {
		return "", "", time.Time{}, err
	}
	var got *client.RecoveryCodeForIdentity
	err = c.do(ctx, call{name: "recovery_code", op: op}, func(ctx context.Context) (resp *http.Response, err error) {
		got, resp, err = c.api.IdentityAPI.CreateRecoveryCodeForIdentity(ctx).CreateRecoveryCodeForIdentityBody(body).Execute()
		return resp, err
	})
	if err != nil {
		return "", "", time.Time{}, err
	}
	return got.RecoveryLink, got.RecoveryCode, got.GetExpiresAt(), nil
}

// expiresInParam formats d for the expires_in field, which takes a Go
// duration string; whole seconds keep it within Kratos's pattern.
func expiresInParam(op string, d time.Duration) (*string, error) {
	switch {
	case d < 0:
		return nil, fmt.Errorf("%s: %w: negative expiry", op, ErrBadRequest)
	case d == 0:
		return nil, nil
	}
	secs := (d + time.Second - 1) / time.Second
	return new(fmt.Sprintf("%ds", secs)), nil
}
