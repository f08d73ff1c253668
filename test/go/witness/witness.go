package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	// maxProofLines is tlog-witness's bound on consistency proof lines.
	maxProofLines = 63
	// maxRequestBytes bounds a request body: the proof lines plus a checkpoint with many signatures.
	maxRequestBytes = 1 << 20
)

// emptyRoot is the RFC 6962 hash of the empty tree, SHA-256 of the empty string.
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

// witness answers add-checkpoint for the logs it is configured with.
type witness struct {
	logs     map[string][]note.Verifier // by origin
	cosigner *cosigner
	store    *store
	now      func() uint64
}

// refusal is an HTTP answer other than 200: the status and why.
type refusal struct {
	status int
	reason string
}

func (r *refusal) Error() string { return r.reason }

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status, fmt.Sprintf(format, args...)}
}

func (w *witness) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/add-checkpoint", w.handleAddCheckpoint)
	mux.HandleFunc("/", w.handleMonitor)
	return mux
}

func (w *witness) handleAddCheckpoint(rw http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "add-checkpoint must be POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxRequestBytes+1))
	if err != nil {
		http.Error(rw, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxRequestBytes {
		http.Error(rw, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	line, conflictSize, err := w.addCheckpoint(body)
	var r *refusal
	switch {
	case err == nil:
		log.Printf("200 cosigned")
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(rw, line)
	case errors.As(err, &r) && r.status == http.StatusConflict:
		log.Printf("409 %s", r.reason)
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", conflictSize)
	case errors.As(err, &r):
		log.Printf("%d %s", r.status, r.reason)
		http.Error(rw, r.reason, r.status)
	default:
		log.Printf("500 %v", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
	}
}

// addCheckpoint runs every tlog-witness check on a request body, in the specification's order,
// and on success persists the checkpoint and returns the cosignature line. On a 409 refusal it
// also returns the size of the latest cosigned checkpoint.
func (w *witness) addCheckpoint(body []byte) (string, int64, error) {
	oldSize, proof, msg, err := parseRequest(body)
	if err != nil {
		return "", 0, err
	}
	origin, err := noteOrigin(msg)
	if err != nil {
		return "", 0, err
	}
	verifiers, known := w.logs[origin]
	if !known {
		return "", 0, refuse(http.StatusNotFound, "unknown log origin %q", origin)
	}
	opened, err := note.Open(msg, note.VerifierList(verifiers...))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		return "", 0, refuse(http.StatusForbidden, "no signature from a trusted key for %q", origin)
	case errors.As(err, &invalid):
		return "", 0, refuse(http.StatusForbidden, "signature by %s+%08x does not verify", invalid.Name, invalid.Hash)
	case err != nil:
		return "", 0, refuse(http.StatusBadRequest, "checkpoint note: %v", err)
	}
	size, root, err := parseCheckpointText(opened.Text)
	if err != nil {
		return "", 0, refuse(http.StatusBadRequest, "checkpoint: %v", err)
	}
	if oldSize > size {
		return "", 0, refuse(http.StatusBadRequest, "old size %d exceeds the checkpoint size %d", oldSize, size)
	}

	w.store.Lock()
	defer w.store.Unlock()
	latest, _ := w.store.latest(origin)
	if oldSize != latest.Size {
		return "", latest.Size, refuse(http.StatusConflict, "old size %d is not the latest cosigned size %d", oldSize, latest.Size)
	}
	if size == 0 && root != emptyRoot {
		return "", 0, refuse(http.StatusUnprocessableEntity, "a checkpoint of size 0 must have the empty tree's root")
	}
	switch {
	case oldSize == 0:
		if len(proof) != 0 {
			return "", 0, refuse(http.StatusUnprocessableEntity, "old size 0 needs no consistency proof, got %d lines", len(proof))
		}
	case oldSize == size:
		if root != latest.Root {
			return "", 0, refuse(http.StatusUnprocessableEntity, "size %d was cosigned with another root hash", size)
		}
		if len(proof) != 0 {
			return "", 0, refuse(http.StatusUnprocessableEntity, "a consistency proof between equal sizes is empty, got %d lines", len(proof))
		}
	default:
		if err := tlog.CheckTree(proof, size, root, oldSize, latest.Root); err != nil {
			return "", 0, refuse(http.StatusUnprocessableEntity, "consistency proof from %d to %d does not verify: %v", oldSize, size, err)
		}
	}

	timestamp := w.now()
	if timestamp == 0 || timestamp > 1<<63-1 {
		return "", 0, fmt.Errorf("clock gives timestamp %d", timestamp)
	}
	line := w.cosigner.signatureLine(opened.Text, timestamp)
	served := opened.Text + "\n"
	for _, sig := range opened.Sigs {
		served += "— " + sig.Name + " " + sig.Base64 + "\n"
	}
	served += line
	if err := w.store.update(origin, logState{Size: size, Root: root, Checkpoint: served}); err != nil {
		return "", 0, fmt.Errorf("persisting the new state: %w", err)
	}
	return line, 0, nil
}

// handleMonitor serves GET /<hex SHA-256 of origin>/checkpoint.
func (w *witness) handleMonitor(rw http.ResponseWriter, req *http.Request) {
	path := strings.TrimPrefix(req.URL.Path, "/")
	originHash, rest, _ := strings.Cut(path, "/")
	if req.Method != http.MethodGet || rest != "checkpoint" {
		http.NotFound(rw, req)
		return
	}
	w.store.Lock()
	defer w.store.Unlock()
	for origin := range w.logs {
		sum := sha256.Sum256([]byte(origin))
		if hex.EncodeToString(sum[:]) != originHash {
			continue
		}
		if st, ok := w.store.latest(origin); ok {
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(rw, st.Checkpoint)
			return
		}
	}
	http.NotFound(rw, req)
}

// parseRequest splits an add-checkpoint body into the old size, the proof and the checkpoint note.
func parseRequest(body []byte) (int64, tlog.TreeProof, []byte, error) {
	line, rest, ok := cutLine(body)
	if !ok || !strings.HasPrefix(line, "old ") {
		return 0, nil, nil, refuse(http.StatusBadRequest, "the body must start with an old size line")
	}
	oldSize, err := parseDecimal(strings.TrimPrefix(line, "old "))
	if err != nil {
		return 0, nil, nil, refuse(http.StatusBadRequest, "old size: %v", err)
	}
	var proof tlog.TreeProof
	for {
		line, rest, ok = cutLine(rest)
		if !ok {
			return 0, nil, nil, refuse(http.StatusBadRequest, "no empty line before the checkpoint")
		}
		if line == "" {
			break
		}
		if len(proof) == maxProofLines {
			return 0, nil, nil, refuse(http.StatusBadRequest, "more than %d consistency proof lines", maxProofLines)
		}
		h, err := parseHash(line)
		if err != nil {
			return 0, nil, nil, refuse(http.StatusBadRequest, "consistency proof line %d: %v", len(proof)+1, err)
		}
		proof = append(proof, h)
	}
	return oldSize, proof, rest, nil
}

// noteOrigin is the first line of a note's text, read before its signatures are checked so that
// the right keys can be chosen (the text ends before the note's last blank line).
func noteOrigin(msg []byte) (string, error) {
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return "", refuse(http.StatusBadRequest, "checkpoint is not a signed note")
	}
	origin, _, _ := strings.Cut(string(msg[:split+1]), "\n")
	return origin, nil
}

// parseCheckpointText reads the size and root hash of tlog-checkpoint note text: at least
// three lines, a non-empty origin, a canonical decimal size, a base64 32-byte root, and
// non-empty extension lines.
func parseCheckpointText(text string) (int64, tlog.Hash, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return 0, tlog.Hash{}, errors.New("fewer than three lines")
	}
	if lines[0] == "" {
		return 0, tlog.Hash{}, errors.New("empty origin")
	}
	size, err := parseDecimal(lines[1])
	if err != nil {
		return 0, tlog.Hash{}, fmt.Errorf("tree size: %v", err)
	}
	root, err := parseHash(lines[2])
	if err != nil {
		return 0, tlog.Hash{}, fmt.Errorf("root hash: %v", err)
	}
	for _, ext := range lines[3:] {
		if ext == "" {
			return 0, tlog.Hash{}, errors.New("empty extension line")
		}
	}
	return size, root, nil
}

func cutLine(b []byte) (string, []byte, bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}

// parseDecimal reads an ASCII decimal with no leading zeroes (0 is "0") that fits in an int64.
func parseDecimal(s string) (int64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n, nil
}

// parseHash reads the canonical standard base64 encoding of a 32-byte hash.
func parseHash(s string) (tlog.Hash, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(tlog.Hash{}) {
		return tlog.Hash{}, fmt.Errorf("%q is not the base64 of 32 bytes", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h, nil
}
