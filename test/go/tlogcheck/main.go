// Command tlogcheck verifies a C2SP tlog-tiles log with the Go reference code
// (golang.org/x/mod/sumdb/note and tlog), independently of the TypeScript that built it.
//
//	tlogcheck -url http://127.0.0.1:8787/log/ -vkey '<verifier key>' [-token T] [-origin O]
//
// It fetches and verifies the checkpoint, recomputes the root from the hash tiles, fetches
// every entry bundle and checks an inclusion proof for every entry, then prints
// {"ok":true,"size":N,"root":"<b64>","entries":N,"bundles":B,"gzipped":G} and exits 0, where G
// counts the bundles that came gzip-encoded (net/http asks for gzip and decodes it itself). Any
// failure: a message on stderr and exit status 1.
//
// Build offline against the Debian x/mod source:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE=$(mktemp -d) go build -o tlogcheck ./test/go/tlogcheck
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8

func main() {
	url := flag.String("url", "", "log prefix, e.g. http://127.0.0.1:8787/log/")
	vkey := flag.String("vkey", "", "the log's note verifier key")
	token := flag.String("token", "", "app token (everything under /log/ needs one)")
	origin := flag.String("origin", "", "expected checkpoint origin (default: any)")
	flag.Parse()
	if *url == "" || *vkey == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: tlogcheck -url <log prefix> -vkey <verifier key> [-token <token>] [-origin <origin>]")
		os.Exit(2)
	}
	prefix := *url
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	summary, err := check(&fetcher{prefix: prefix, token: *token, client: &http.Client{Timeout: 30 * time.Second}}, *vkey, *origin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlogcheck: FAIL:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(summary)
	fmt.Println(string(out))
}

type summary struct {
	OK      bool   `json:"ok"`
	Size    int64  `json:"size"`
	Root    string `json:"root"`
	Entries int64  `json:"entries"`
	Bundles int64  `json:"bundles"`
	Gzipped int64  `json:"gzipped"`
}

func check(f *fetcher, vkey, wantOrigin string) (*summary, error) {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %v", err)
	}
	msg, err := f.get("checkpoint")
	if err != nil {
		return nil, err
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return nil, fmt.Errorf("checkpoint signature: %v", err)
	}
	origin, tree, err := parseCheckpoint(n.Text)
	if err != nil {
		return nil, err
	}
	if wantOrigin != "" && origin != wantOrigin {
		return nil, fmt.Errorf("checkpoint origin is %q, expected %q", origin, wantOrigin)
	}
	done := &summary{OK: true, Size: tree.N, Root: tree.Hash.String()}
	if tree.N == 0 {
		// RFC 6962's empty root; Go's TreeHash(0) would be all zeros instead.
		if tree.Hash != tlog.Hash(sha256.Sum256(nil)) {
			return nil, errors.New("empty tree's root is not SHA-256 of the empty string")
		}
		return done, nil
	}

	reader := tlog.TileHashReader(tree, &tileReader{f: f})
	root, err := tlog.TreeHash(tree.N, reader)
	if err != nil {
		return nil, fmt.Errorf("tree hash from tiles: %v", err)
	}
	if root != tree.Hash {
		return nil, fmt.Errorf("tiles hash to %v, checkpoint says %v", root, tree.Hash)
	}

	for first := int64(0); first < tree.N; first += 1 << tileHeight {
		width := tree.N - first
		if width > 1<<tileHeight {
			width = 1 << tileHeight
		}
		bundle := tlog.Tile{H: tileHeight, L: -1, N: first >> tileHeight, W: int(width)}
		data, gzipped, err := f.getEncoded(c2spPath(bundle))
		if err != nil {
			return nil, err
		}
		done.Bundles++
		if gzipped {
			done.Gzipped++
		}
		entries, err := splitBundle(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", c2spPath(bundle), err)
		}
		if int64(len(entries)) != width {
			return nil, fmt.Errorf("%s holds %d entries, expected %d", c2spPath(bundle), len(entries), width)
		}
		for i, entry := range entries {
			if err := checkEntry(tree, reader, first+int64(i), entry); err != nil {
				return nil, err
			}
			done.Entries++
		}
	}
	return done, nil
}

func checkEntry(tree tlog.Tree, reader tlog.HashReader, index int64, entry []byte) error {
	h := tlog.RecordHash(entry)
	// The level-0 tile must carry exactly this entry's hash (C2SP tlog-tiles).
	served, err := reader.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
	if err != nil {
		return fmt.Errorf("record %d hash from tiles: %v", index, err)
	}
	if served[0] != h {
		return fmt.Errorf("record %d: level-0 tile has %v, entry hashes to %v", index, served[0], h)
	}
	proof, err := tlog.ProveRecord(tree.N, index, reader)
	if err != nil {
		return fmt.Errorf("record %d proof: %v", index, err)
	}
	if err := tlog.CheckRecord(proof, tree.N, tree.Hash, index, h); err != nil {
		return fmt.Errorf("record %d is not in the tree: %v", index, err)
	}
	return nil
}

var decimal = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

// parseCheckpoint parses a C2SP tlog-checkpoint body: origin, decimal size, base64 root, then
// optional non-empty extension lines. (tlog.ParseTree reads only the old "go.sum database tree" form.)
func parseCheckpoint(text string) (string, tlog.Tree, error) {
	if !strings.HasSuffix(text, "\n") {
		return "", tlog.Tree{}, errors.New("checkpoint body does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return "", tlog.Tree{}, fmt.Errorf("checkpoint has %d lines, needs at least 3", len(lines))
	}
	for i, line := range lines {
		if line == "" {
			return "", tlog.Tree{}, fmt.Errorf("checkpoint line %d is empty", i+1)
		}
	}
	if !decimal.MatchString(lines[1]) {
		return "", tlog.Tree{}, fmt.Errorf("checkpoint size %q is not a canonical decimal", lines[1])
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return "", tlog.Tree{}, fmt.Errorf("checkpoint size %q: %v", lines[1], err)
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return "", tlog.Tree{}, fmt.Errorf("checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	var hash tlog.Hash
	copy(hash[:], root)
	return lines[0], tlog.Tree{N: size, Hash: hash}, nil
}

func splitBundle(data []byte) ([][]byte, error) {
	var entries [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, fmt.Errorf("truncated length prefix after %d entries", len(entries))
		}
		size := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+size {
			return nil, fmt.Errorf("entry %d truncated", len(entries))
		}
		entries = append(entries, data[2:2+size])
		data = data[2+size:]
	}
	return entries, nil
}

// c2spPath maps Go's tile path (tile/8/L/N, tile/8/data/N) to C2SP's (tile/L/N, tile/entries/N).
func c2spPath(t tlog.Tile) string {
	rest := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", tileHeight))
	if t.L == -1 {
		rest = "entries" + strings.TrimPrefix(rest, "data")
	}
	return "tile/" + rest
}

type fetcher struct {
	prefix string
	token  string
	client *http.Client
}

func (f *fetcher) get(path string) ([]byte, error) {
	data, _, err := f.getEncoded(path)
	return data, err
}

// getEncoded is get, also saying whether the response came gzip-encoded.
func (f *fetcher) getEncoded(path string) ([]byte, bool, error) {
	req, err := http.NewRequest("GET", f.prefix+path, nil)
	if err != nil {
		return nil, false, err
	}
	// Every path under /log/ needs the app token.
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, false, fmt.Errorf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	return body, resp.Uncompressed, nil
}

// tileReader serves tlog tiles over HTTP, keeping raw bytes in memory: TileHashReader
// re-checks tiles against the tree on every read, so nothing here is trusted.
type tileReader struct {
	f     *fetcher
	mu    sync.Mutex
	cache map[string][]byte
}

func (r *tileReader) Height() int { return tileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		path := c2spPath(t)
		r.mu.Lock()
		data, ok := r.cache[path]
		r.mu.Unlock()
		if !ok {
			var err error
			if data, err = r.f.get(path); err != nil {
				return nil, err
			}
			if len(data) != t.W*tlog.HashSize {
				return nil, fmt.Errorf("%s is %d bytes, expected %d", path, len(data), t.W*tlog.HashSize)
			}
			r.mu.Lock()
			if r.cache == nil {
				r.cache = map[string][]byte{}
			}
			r.cache[path] = data
			r.mu.Unlock()
		}
		out[i] = data
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}
