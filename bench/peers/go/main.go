// Command codec-peer is the Go reference the codec server is benchmarked against: the Temporal Go SDK's own
// converter.NewPayloadCodecHTTPHandler serving an AES-256-GCM PayloadCodec of this project's wire format
// (shared/design/wire-format.md) and the SDK's ZlibCodec, which is what a Go shop would deploy as its codec server.
//
//	codec-peer -addr 127.0.0.1:8890 [-key-id default]
//
// Keys come from TEMPORAL_ENCRYPTION_KEY_<id> (every such variable is loaded; "base64:", "hex:" or 32+ bytes of
// text), the active key id from -key-id. GOMAXPROCS is read by the Go runtime from the environment; the benchmark
// sets it to the core count the Node server gets. The program prints one line "listening <addr>" on stdout when it
// accepts connections and stops gracefully on SIGTERM/SIGINT. No message shows a key or payload bytes.
package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

const (
	encodingEncrypted = "binary/encrypted"
	metadataKeyID     = "encryption-key-id"
	keyLength         = 32
	nonceLength       = 12 // NIST SP 800-38D 8.2: 96-bit random nonce, also cipher.NewGCM's default
	tagLength         = 16 // cipher.NewGCM's default tag size
	keyVariablePrefix = "TEMPORAL_ENCRYPTION_KEY_"
	maxBodyBytes      = 4 << 20 // the Node server's default --body-limit
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8890", "address to listen on")
	activeKeyID := flag.String("key-id", "default", "key id new payloads are encrypted with")
	flag.Parse()
	if err := run(*addr, *activeKeyID); err != nil {
		fmt.Fprintf(os.Stderr, "codec-peer: %v\n", err)
		os.Exit(1)
	}
}

func run(addr, activeKeyID string) error {
	encryption, err := newEncryptionCodec(activeKeyID)
	if err != nil {
		return err
	}
	// The Go SDK applies a codec list the other way round from TypeScript: encode runs the list last to first,
	// decode first to last (go.temporal.io/sdk/converter/codec.go). (encryption, zlib) therefore compresses, then
	// encrypts, as TypeScript's payloadCodecs: [compression, encryption] does.
	handler := converter.NewPayloadCodecHTTPHandler(encryption, converter.NewZlibCodec(converter.ZlibCodecOptions{}))
	server := &http.Server{
		Handler: http.MaxBytesHandler(handler, maxBodyBytes),
		// The Node server's defaults: 5 s for headers, 30 s for the request, 5 s idle keep-alive.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       5 * time.Second,
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening %s gomaxprocs=%d\n", listener.Addr(), runtime.GOMAXPROCS(0))

	stopped := make(chan error, 1)
	go func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
		<-signals
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		stopped <- server.Shutdown(ctx)
	}()
	if err := server.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-stopped
}

// encryptionCodec is a converter.PayloadCodec for binary/encrypted: data = nonce || ciphertext || tag, the plaintext
// the whole serialized Payload, no associated data; decode looks the key up by the payload's own key id.
type encryptionCodec struct {
	activeKeyID string
	// An AEAD per key id, made once: cipher.AEAD from cipher.NewGCM holds no per-call state.
	aeads map[string]cipher.AEAD
}

func newEncryptionCodec(activeKeyID string) (*encryptionCodec, error) {
	keys, err := loadKeys()
	if err != nil {
		return nil, err
	}
	if _, ok := keys[activeKeyID]; !ok {
		return nil, fmt.Errorf("%s%s is not set (the active key id is %q)", keyVariablePrefix, activeKeyID, activeKeyID)
	}
	aeads := make(map[string]cipher.AEAD, len(keys))
	for id, key := range keys {
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block) // 12-byte nonce, 16-byte tag
		if err != nil {
			return nil, err
		}
		aeads[id] = aead
	}
	return &encryptionCodec{activeKeyID: activeKeyID, aeads: aeads}, nil
}

// Encode encrypts every payload with the active key.
func (c *encryptionCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.activeKeyID]
	result := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plaintext, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, nonceLength, nonceLength+len(plaintext)+tagLength)
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		result[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(encodingEncrypted),
				metadataKeyID:              []byte(c.activeKeyID),
			},
			// Seal appends ciphertext || tag to the nonce.
			Data: aead.Seal(nonce, nonce, plaintext, nil),
		}
	}
	return result, nil
}

// Decode decrypts binary/encrypted payloads and passes every other payload through unchanged.
func (c *encryptionCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	// One message for every failure: no oracle.
	failed := errors.New("decryption operation failed")
	result := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != encodingEncrypted {
			result[i] = p
			continue
		}
		aead, ok := c.aeads[string(p.GetMetadata()[metadataKeyID])]
		data := p.GetData()
		if !ok || len(data) < nonceLength+tagLength {
			return nil, failed
		}
		plaintext, err := aead.Open(nil, data[:nonceLength], data[nonceLength:], nil)
		if err != nil {
			return nil, failed
		}
		result[i] = &commonpb.Payload{}
		if err := proto.Unmarshal(plaintext, result[i]); err != nil {
			return nil, failed
		}
	}
	return result, nil
}

// loadKeys reads every TEMPORAL_ENCRYPTION_KEY_<id>; errors name the variable, never its value.
func loadKeys() (map[string][]byte, error) {
	keys := map[string][]byte{}
	for _, entry := range os.Environ() {
		name, value, _ := strings.Cut(entry, "=")
		if !strings.HasPrefix(name, keyVariablePrefix) || len(name) == len(keyVariablePrefix) {
			continue
		}
		key, err := parseKey(name, value)
		if err != nil {
			return nil, err
		}
		keys[strings.TrimPrefix(name, keyVariablePrefix)] = key
	}
	return keys, nil
}

func parseKey(name, value string) ([]byte, error) {
	switch {
	case strings.HasPrefix(value, "base64:"):
		key, err := base64.StdEncoding.Strict().DecodeString(strings.TrimSpace(strings.TrimPrefix(value, "base64:")))
		if err != nil || len(key) != keyLength {
			return nil, fmt.Errorf("%s must be base64 of exactly %d bytes after \"base64:\"", name, keyLength)
		}
		return key, nil
	case strings.HasPrefix(value, "hex:"):
		key, err := hex.DecodeString(strings.TrimSpace(strings.TrimPrefix(value, "hex:")))
		if err != nil || len(key) != keyLength {
			return nil, fmt.Errorf("%s must hold exactly %d hex digits after \"hex:\"", name, 2*keyLength)
		}
		return key, nil
	default:
		// Text of at least 32 bytes: its first 32 bytes are the key (the wire format's rule for text keys).
		if len(value) < keyLength {
			return nil, fmt.Errorf("%s is %d bytes; a text key needs at least %d", name, len(value), keyLength)
		}
		return bytes.Clone([]byte(value)[:keyLength]), nil
	}
}
