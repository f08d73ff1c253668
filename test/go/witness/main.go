// Command witness is a C2SP tlog-witness (https://c2sp.org/tlog-witness) written from the
// specifications alone, so that whodis's checkpoints and consistency proofs can be checked
// against a witness that shares no code with whodis. It cosigns with Ed25519 cosignature/v1
// (https://c2sp.org/tlog-cosignature).
//
//	witness -addr 127.0.0.1:0 -log-vkey <log verifier key> [-log-vkey ...] \
//	        -key-seed <64 hex digits> -name <witness name> -state <file>
//
// It serves
//
//	POST /add-checkpoint            the tlog-witness submission API
//	GET  /<sha256(origin) hex>/checkpoint  the latest cosigned checkpoint (monitor retrieval)
//
// Each log is identified by its origin, the name of its verifier key (a log's key name is its
// origin, as tlog-checkpoint recommends). The latest cosigned size and root of each log are kept
// in the -state file, written atomically before any cosignature is returned.
//
// Once listening it prints one JSON line to stdout, {"addr":"127.0.0.1:PORT","vkey":"<witness
// verifier key>"}, and logs each request's outcome to stderr.
//
// Build offline against the Debian x/mod source:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=$(mktemp -d) go build -o witness ./test/go/witness
package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	seedHex := flag.String("key-seed", "", "the witness's Ed25519 seed, 32 bytes in hex")
	name := flag.String("name", "", "the witness's key name")
	statePath := flag.String("state", "", "file holding the latest cosigned checkpoint of each log")
	logs := map[string][]note.Verifier{}
	seen := map[string]bool{}
	flag.Func("log-vkey", "verifier key of a log to witness (repeatable); its name is the log's origin", func(vkey string) error {
		v, err := note.NewVerifier(vkey)
		if err != nil || seen[vkey] {
			return err
		}
		seen[vkey] = true
		logs[v.Name()] = append(logs[v.Name()], v)
		return nil
	})
	flag.Parse()
	if len(logs) == 0 || *seedHex == "" || *name == "" || *statePath == "" || flag.NArg() != 0 {
		fail("usage: witness -addr <host:port> -log-vkey <vkey> [-log-vkey ...] -key-seed <hex> -name <name> -state <file>")
	}
	seed, err := hex.DecodeString(*seedHex)
	if err != nil || len(seed) != ed25519.SeedSize {
		fail("-key-seed must be 32 bytes in hex")
	}
	cosigner, err := newCosigner(*name, ed25519.NewKeyFromSeed(seed))
	if err != nil {
		fail(err.Error())
	}
	store, err := openStore(*statePath)
	if err != nil {
		fail(err.Error())
	}
	w := &witness{logs: logs, cosigner: cosigner, store: store, now: nowUnix}

	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fail(err.Error())
	}
	banner, _ := json.Marshal(map[string]string{"addr": listener.Addr().String(), "vkey": cosigner.verifierKey()})
	fmt.Println(string(banner))
	server := &http.Server{Handler: w.routes()}
	fail(server.Serve(listener).Error())
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "witness:", strings.TrimSpace(message))
	os.Exit(2)
}
