package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
	"unicode"
)

// cosignatureV1Type is the signature type byte of Ed25519 cosignature/v1 keys (c2sp.org/signed-note).
const cosignatureV1Type = 0x04

// cosigner signs cosignature/v1 statements with one Ed25519 key.
type cosigner struct {
	name  string
	key   ed25519.PrivateKey
	keyID [4]byte
}

func newCosigner(name string, key ed25519.PrivateKey) (*cosigner, error) {
	if !validKeyName(name) {
		return nil, fmt.Errorf("witness name %q must be non-empty, without spaces or '+'", name)
	}
	c := &cosigner{name: name, key: key}
	c.keyID = cosignatureKeyID(name, key.Public().(ed25519.PublicKey))
	return c, nil
}

// cosignatureKeyID is SHA-256(name || "\n" || 0x04 || public key)[:4] (tlog-cosignature).
func cosignatureKeyID(name string, pub ed25519.PublicKey) [4]byte {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{cosignatureV1Type})
	h.Write(pub)
	var id [4]byte
	copy(id[:], h.Sum(nil))
	return id
}

// verifierKey is the witness's vkey: <name>+<hex key ID>+base64(0x04 || public key).
func (c *cosigner) verifierKey() string {
	pub := c.key.Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%x+%s", c.name, c.keyID, base64.StdEncoding.EncodeToString(append([]byte{cosignatureV1Type}, pub...)))
}

// signatureLine cosigns the checkpoint note text (every line, extension lines included) at
// timestamp, and returns the note signature line "— <name> base64(key ID || timestamp || sig)\n".
func (c *cosigner) signatureLine(checkpointText string, timestamp uint64) string {
	message := "cosignature/v1\ntime " + strconv.FormatUint(timestamp, 10) + "\n" + checkpointText
	sig := make([]byte, 0, 4+8+ed25519.SignatureSize)
	sig = append(sig, c.keyID[:]...)
	sig = binary.BigEndian.AppendUint64(sig, timestamp)
	sig = append(sig, ed25519.Sign(c.key, []byte(message))...)
	return "— " + c.name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
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

func nowUnix() uint64 { return uint64(time.Now().Unix()) }
