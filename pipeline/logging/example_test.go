package logging_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"hotfolder/pipeline/logging"
)

func Example() {
	secret := "p8e-Q1w2E3r4T5y6U7i8O9p0AsDfGhJkLzXc" // os.Getenv("ADOBE_CLIENT_SECRET")
	log, err := logging.New(os.Stdout, logging.Options{
		Format: "text",
		Level:  slog.LevelDebug,
		// In main: logging.EnvSecrets(os.Getenv).
		Secrets: []string{secret},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Drop the time so the output is the same on every run.
	log = slog.New(dropTime{log.Handler()})

	log.Info("token request", "body", "grant_type=client_credentials&client_id=hotfolder&client_secret="+secret)
	log.Debug("download", "url", "https://bucket.s3.amazonaws.com/out/red.png?X-Amz-Expires=3600&X-Amz-Signature=5d672d79c15b")
	log.Warn("retrying", "access_token", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJob3Rmb2xkZXIifQ.c2ln", "attempt", 2)

	// Outside slog, the same rules on a plain string.
	fmt.Println(logging.Redact("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", nil))
	// Output:
	// level=INFO msg="token request" body="grant_type=client_credentials&client_id=hotfolder&client_secret=[REDACTED]"
	// level=DEBUG msg=download url="https://bucket.s3.amazonaws.com/out/red.png?X-Amz-Expires=3600&X-Amz-Signature=[REDACTED]"
	// level=WARN msg=retrying access_token=[REDACTED] attempt=2
	// Authorization: Bearer [REDACTED]
}

// dropTime clears each record's time, which slog's handlers then leave out.
type dropTime struct{ slog.Handler }

func (d dropTime) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{}
	return d.Handler.Handle(ctx, r)
}
