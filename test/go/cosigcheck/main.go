// Command cosigcheck verifies a transparency log checkpoint that carries witness cosignatures,
// from the C2SP specifications alone (signed-note, tlog-checkpoint, tlog-cosignature), with Go's
// reference golang.org/x/mod/sumdb/note for the note syntax and the log's signature.
//
//	cosigcheck -log-vkey <log vkey> -witness-vkey <vkey> [-witness-vkey ...] -threshold K \
//	           [-note <file>] [-max-future 5m] [-origin <origin>]
//
// It reads the checkpoint note from -note (default stdin) and checks that the log's key signed
// it, that its text is a well-formed checkpoint whose origin is the log key's name (or -origin),
// that every signature line whose name and key ID match a witness's cosignature/v1 key verifies
// (a timestamped Ed25519 signature over "cosignature/v1\ntime <T>\n" and the note text, with a
// timestamp that is non-zero, at most 2^63-1 and not more than -max-future ahead), and that at
// least K distinct witness keys cosigned. Signatures from unknown keys are ignored.
//
// It prints one line: "ok: ..." on stdout with exit status 0, or "cosigcheck: FAIL: <reason>"
// on stderr with exit status 1 (2 for bad usage).
//
// Build offline against the Debian x/mod source:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=$(mktemp -d) go build -o cosigcheck ./test/go/cosigcheck
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/mod/sumdb/note"
)

// cosignatureV1Type is the signature type byte of Ed25519 cosignature/v1 keys (c2sp.org/signed-note).
const cosignatureV1Type = 0x04

func main() {
	logVkey := flag.String("log-vkey", "", "the log's Ed25519 note verifier key")
	origin := flag.String("origin", "", "expected checkpoint origin (default: the log key's name)")
	threshold := flag.Int("threshold", 1, "how many distinct witness keys must have cosigned")
	notePath := flag.String("note", "", "file holding the checkpoint note (default: stdin)")
	maxFuture := flag.Duration("max-future", 5*time.Minute, "how far ahead of this clock a cosignature's timestamp may be")
	var witnessKeys []string
	flag.Func("witness-vkey", "a witness's cosignature/v1 verifier key (repeatable)", func(v string) error {
		witnessKeys = append(witnessKeys, v)
		return nil
	})
	flag.Parse()
	if *logVkey == "" || flag.NArg() != 0 || *threshold < 0 {
		fmt.Fprintln(os.Stderr, "usage: cosigcheck -log-vkey <vkey> -witness-vkey <vkey> [...] -threshold K [-note <file>] [-origin O] [-max-future D]")
		os.Exit(2)
	}
	var msg []byte
	var err error
	if *notePath == "" {
		msg, err = io.ReadAll(os.Stdin)
	} else {
		msg, err = os.ReadFile(*notePath)
	}
	if err == nil {
		var summary string
		summary, err = check(msg, *logVkey, *origin, witnessKeys, *threshold, time.Now().Add(*maxFuture))
		if err == nil {
			fmt.Println("ok:", summary)
			return
		}
	}
	fmt.Fprintln(os.Stderr, "cosigcheck: FAIL:", err)
	os.Exit(1)
}

func check(msg []byte, logVkey, wantOrigin string, witnessKeys []string, threshold int, latest time.Time) (string, error) {
	logKey, err := note.NewVerifier(logVkey)
	if err != nil {
		return "", fmt.Errorf("log verifier key: %v", err)
	}
	if wantOrigin == "" {
		wantOrigin = logKey.Name()
	}
	verifiers := []note.Verifier{logKey}
	witnesses := map[string]*cosignatureVerifier{} // by name+key ID
	for _, vkey := range witnessKeys {
		w, err := parseCosignatureKey(vkey, latest)
		if err != nil {
			return "", fmt.Errorf("witness verifier key %q: %v", vkey, err)
		}
		if w.name == logKey.Name() && w.hash == logKey.KeyHash() {
			return "", fmt.Errorf("witness key %q has the log key's name and key ID", vkey)
		}
		id := fmt.Sprintf("%s+%08x", w.name, w.hash)
		if _, seen := witnesses[id]; !seen {
			witnesses[id] = w
			verifiers = append(verifiers, w)
		}
	}
	if threshold > len(witnesses) {
		return "", fmt.Errorf("threshold %d exceeds the %d witness keys given", threshold, len(witnesses))
	}

	n, err := note.Open(msg, note.VerifierList(verifiers...))
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &invalid):
		id := fmt.Sprintf("%s+%08x", invalid.Name, invalid.Hash)
		if w, ok := witnesses[id]; ok {
			return "", fmt.Errorf("cosignature by %s: %s", id, w.failure)
		}
		return "", fmt.Errorf("log signature by %s does not verify", id)
	case err != nil:
		return "", fmt.Errorf("checkpoint note: %v", err)
	}
	if err := checkCheckpointText(n.Text, wantOrigin); err != nil {
		return "", fmt.Errorf("checkpoint text: %v", err)
	}

	logSigned := false
	cosigned := map[string]string{} // public key -> witness name
	for _, sig := range n.Sigs {
		if sig.Name == logKey.Name() && sig.Hash == logKey.KeyHash() {
			logSigned = true
			continue
		}
		w := witnesses[fmt.Sprintf("%s+%08x", sig.Name, sig.Hash)]
		// cosignature/v1 does not commit to the witness's name: one key under two names is one witness.
		cosigned[string(w.key)] = w.name
	}
	if !logSigned {
		return "", errors.New("no signature by the log's key")
	}
	names := make([]string, 0, len(cosigned))
	for _, name := range cosigned {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(cosigned) < threshold {
		return "", fmt.Errorf("%d of the %d required witnesses cosigned (%s)", len(cosigned), threshold, strings.Join(names, ", "))
	}
	lines := strings.SplitN(n.Text, "\n", 3)
	return fmt.Sprintf("%s size %s cosigned by %d of %d required witnesses (%s)", lines[0], lines[1], len(cosigned), threshold, strings.Join(names, ", ")), nil
}

// cosignatureVerifier verifies cosignature/v1 signatures as a note.Verifier, so that note.Open
// applies the signed-note rules (unknown keys ignored, a known key's bad signature fatal); it
// keeps the reason of its last rejection.
type cosignatureVerifier struct {
	name    string
	hash    uint32
	key     ed25519.PublicKey
	latest  time.Time
	failure string
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }

// Verify checks sig = 8-byte big-endian timestamp || Ed25519 signature over
// "cosignature/v1\ntime <timestamp>\n" || the note text.
func (v *cosignatureVerifier) Verify(text, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		v.failure = fmt.Sprintf("signature is %d bytes, not 8 + %d", len(sig), ed25519.SignatureSize)
		return false
	}
	timestamp := binary.BigEndian.Uint64(sig[:8])
	switch {
	case timestamp == 0:
		v.failure = "timestamp is zero"
		return false
	case timestamp > 1<<63-1:
		v.failure = fmt.Sprintf("timestamp %d exceeds 2^63-1", timestamp)
		return false
	case int64(timestamp) > v.latest.Unix():
		v.failure = fmt.Sprintf("timestamp %d is in the future", timestamp)
		return false
	}
	message := append([]byte("cosignature/v1\ntime "+strconv.FormatUint(timestamp, 10)+"\n"), text...)
	if !ed25519.Verify(v.key, message, sig[8:]) {
		v.failure = "Ed25519 signature does not verify"
		return false
	}
	return true
}

// parseCosignatureKey reads <name>+<hex key ID>+base64(0x04 || 32-byte Ed25519 key) and checks
// the key ID is SHA-256(name || "\n" || 0x04 || key)[:4].
func parseCosignatureKey(vkey string, latest time.Time) (*cosignatureVerifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	idHex, keyB64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !validKeyName(name) {
		return nil, errors.New("not <name>+<hex key ID>+<base64 key>")
	}
	id, err := hex.DecodeString(idHex)
	if err != nil || len(id) != 4 {
		return nil, errors.New("key ID is not 8 hex digits")
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(keyB64)
	if err != nil || len(raw) != 1+ed25519.PublicKeySize {
		return nil, errors.New("key is not base64 of a type byte and 32 bytes")
	}
	if raw[0] != cosignatureV1Type {
		return nil, fmt.Errorf("key type is 0x%02x, not cosignature/v1's 0x04", raw[0])
	}
	sum := sha256.Sum256(append([]byte(name+"\n"), raw...))
	if hex.EncodeToString(sum[:4]) != strings.ToLower(idHex) {
		return nil, errors.New("key ID does not match the name and key")
	}
	return &cosignatureVerifier{name: name, hash: binary.BigEndian.Uint32(id), key: raw[1:], latest: latest}, nil
}

// checkCheckpointText checks tlog-checkpoint note text: the origin, a canonical decimal size,
// a base64 32-byte root hash, and non-empty extension lines.
func checkCheckpointText(text, wantOrigin string) error {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return errors.New("fewer than three lines")
	}
	if lines[0] != wantOrigin {
		return fmt.Errorf("origin %q is not %q", lines[0], wantOrigin)
	}
	size := lines[1]
	if size == "" || (len(size) > 1 && size[0] == '0') || strings.Trim(size, "0123456789") != "" {
		return fmt.Errorf("tree size %q is not a canonical decimal", size)
	}
	if _, err := strconv.ParseInt(size, 10, 64); err != nil {
		return fmt.Errorf("tree size %q is out of range", size)
	}
	if root, err := base64.StdEncoding.Strict().DecodeString(lines[2]); err != nil || len(root) != 32 {
		return fmt.Errorf("root hash %q is not the base64 of 32 bytes", lines[2])
	}
	for _, ext := range lines[3:] {
		if ext == "" {
			return errors.New("empty extension line")
		}
	}
	return nil
}

func validKeyName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r == '+' || unicode.IsSpace(r) || r < 0x20 {
			return false
		}
	}
	return true
}
