package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// logState is what the witness remembers of one log: the latest checkpoint it cosigned.
type logState struct {
	Size int64     `json:"size"`
	Root tlog.Hash `json:"root"`
	// Checkpoint is that checkpoint's note: its text, the log signatures that verified, and
	// the witness's cosignature, as served to monitors.
	Checkpoint string `json:"checkpoint"`
}

// store keeps every log's state in one JSON file. Lock it around a check and the update that
// follows (tlog-witness requires the two to be atomic); update is durable when it returns: the
// new file is written, synced and renamed over the old one, and the directory is synced.
type store struct {
	sync.Mutex
	path string
	logs map[string]logState
}

func openStore(path string) (*store, error) {
	s := &store{path: path, logs: map[string]logState{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &s.logs); err != nil {
		return nil, fmt.Errorf("state file %s: %v", path, err)
	}
	return s, nil
}

// latest is the state of origin, or a zero state if the witness never cosigned for it.
func (s *store) latest(origin string) (logState, bool) {
	st, ok := s.logs[origin]
	return st, ok
}

// update persists origin's new state, then makes it current; on error nothing changes.
func (s *store) update(origin string, st logState) error {
	next := make(map[string]logState, len(s.logs)+1)
	for k, v := range s.logs {
		next[k] = v
	}
	next[origin] = st
	data, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	if err := writeDurably(s.path, data); err != nil {
		return err
	}
	s.logs = next
	return nil
}

func writeDurably(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}
