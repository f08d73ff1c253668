// Command notecheck signs and opens C2SP signed notes with Go's reference implementation,
// golang.org/x/mod/sumdb/note, so the TypeScript tests can check interoperability.
//
// It reads one JSON request from stdin (or from the first argument):
//
//	{"mode": "sign", "key": "PRIVATE+KEY+...", "text": "..."}   prints note.Sign's output
//	{"mode": "verify", "key": "<verifier key>", "note": "..."}  prints the opened note's text
//	{"mode": "vkey", "key": "<verifier key>"}                    prints note.NewVerifier's <name>+<key hash>
//
// and exits 1 with the error on stderr if signing or opening fails. Given a JSON array of
// requests instead, it answers with a JSON array of {"ok", "out", "error"} and exits 0.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

type request struct {
	Mode string `json:"mode"`
	Key  string `json:"key"`
	Text string `json:"text"`
	Note string `json:"note"`
}

type result struct {
	OK    bool   `json:"ok"`
	Out   string `json:"out"`
	Error string `json:"error,omitempty"`
}

func run(r request) (string, error) {
	switch r.Mode {
	case "sign":
		signer, err := note.NewSigner(r.Key)
		if err != nil {
			return "", err
		}
		msg, err := note.Sign(&note.Note{Text: r.Text}, signer)
		return string(msg), err
	case "verify":
		verifier, err := note.NewVerifier(r.Key)
		if err != nil {
			return "", err
		}
		n, err := note.Open([]byte(r.Note), note.VerifierList(verifier))
		if err != nil {
			return "", err
		}
		return n.Text, nil
	case "vkey":
		verifier, err := note.NewVerifier(r.Key)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s+%08x", verifier.Name(), verifier.KeyHash()), nil
	default:
		return "", errors.New("mode must be sign, verify or vkey")
	}
}

func main() {
	var input []byte
	var err error
	if len(os.Args) > 1 {
		input = []byte(os.Args[1])
	} else if input, err = io.ReadAll(os.Stdin); err != nil {
		fail(err)
	}

	if strings.HasPrefix(strings.TrimSpace(string(input)), "[") {
		var reqs []request
		if err := json.Unmarshal(input, &reqs); err != nil {
			fail(err)
		}
		results := make([]result, len(reqs))
		for i, r := range reqs {
			out, err := run(r)
			results[i] = result{OK: err == nil, Out: out}
			if err != nil {
				results[i].Error = err.Error()
			}
		}
		if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
			fail(err)
		}
		return
	}

	var r request
	if err := json.Unmarshal(input, &r); err != nil {
		fail(err)
	}
	out, err := run(r)
	if err != nil {
		fail(err)
	}
	os.Stdout.WriteString(out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "notecheck:", err)
	os.Exit(1)
}
