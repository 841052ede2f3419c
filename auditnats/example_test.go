package auditnats_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"log"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"golang.org/x/mod/sumdb/note"

	"github.com/go-auditlog/auditlog/auditnats"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
)

// Relay a database's entries to a JetStream stream, one message each, in
// the order they were committed. The examples here need a NATS server with
// JetStream, so they are compiled but not run.
func ExampleConnectSink() {
	ctx := context.Background()
	db, err := sql.Open("pgx", "postgres://app@127.0.0.1:5432/app")
	if err != nil {
		log.Fatal(err)
	}
	sink, err := auditnats.ConnectSink(ctx, "nats://127.0.0.1:4222", auditnats.SinkOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()
	relay, err := auditrelay.New(db, auditstore.Postgres, sink)
	if err != nil {
		log.Fatal(err)
	}
	// Each round publishes the entries committed since the last one and
	// moves the relay's position only past those the stream acknowledged.
	log.Fatal(relay.Run(ctx, time.Second))
}

// Keep each checkpoint of a sealed log in a JetStream stream, where
// whoever controls the database cannot change it.
func ExampleConnect() {
	ctx := context.Background()
	db, err := sql.Open("pgx", "postgres://app@127.0.0.1:5432/app")
	if err != nil {
		log.Fatal(err)
	}
	target, err := auditnats.Parse("nats://127.0.0.1:4222/audit.checkpoints.app")
	if err != nil {
		log.Fatal(err)
	}
	witness, err := auditnats.Connect(ctx, target)
	if err != nil {
		log.Fatal(err)
	}
	defer witness.Close()

	skey, _, _ := note.GenerateKey(rand.Reader, "app.example.com/audit") // keep skey secret; publish the verifier key
	signer, _ := note.NewSigner(skey)
	sealer, err := auditseal.New(db, auditstore.Postgres, signer, "app.example.com/audit")
	if err != nil {
		log.Fatal(err)
	}
	sealer.Witnesses = []auditseal.Witness{witness}
	log.Fatal(sealer.Run(ctx, time.Minute, func(err error) { log.Print(err) }))
}
