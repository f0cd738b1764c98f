// Command interop is the Go side of the interoperability test in ../go-interop.test.ts: it produces and decodes
// payloads with the real Temporal Go SDK (its default data converter and its ZlibCodec) and an AES-256-GCM codec
// written to the wire format of shared/design/wire-format.md, so the test proves that what the TypeScript package
// writes, Go reads, and the other way round.
//
//	interop produce -expected FILE [-key-id ID]   payloads as {"payloads":[...]} on stdout, their values in FILE
//	interop decode                                 {"payloads":[...]} on stdin, a JSON array of their values on stdout
//
// Keys come from TEMPORAL_ENCRYPTION_KEY_<id>, read as the wire format says: "base64:<32 bytes>", "hex:<64 digits>",
// or text of at least 32 bytes whose first 32 bytes are the key. No message ever shows a key or payload bytes.
package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const (
	encodingEncrypted       = "binary/encrypted"
	metadataKeyID           = "encryption-key-id"
	keyLength               = 32
	nonceLength             = 12 // NIST SP 800-38D 8.2: 96-bit random nonce, also cipher.NewGCM's default
	tagLength               = 16 // cipher.NewGCM's default tag size
	keyVariablePrefix       = "TEMPORAL_ENCRYPTION_KEY_"
	defaultKeyID            = "interop"
	maxStdinBytes     int64 = 64 << 20
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: interop produce -expected FILE [-key-id ID] | interop decode")
		return 2
	}
	var err error
	switch args[0] {
	case "produce":
		err = produce(args[1:], stdout)
	case "decode":
		err = decode(stdin, stdout)
	default:
		fmt.Fprintf(stderr, "interop: unknown command %q\n", args[0])
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "interop %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// produce encodes a fixed set of values with each codec combination and writes them out, and writes the values as
// Go's own default payload converter reads them back from the unencoded payloads to the -expected file.
func produce(args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("produce", flag.ContinueOnError)
	expectedPath := flags.String("expected", "", "file to write the expected values to (JSON array)")
	keyID := flags.String("key-id", defaultKeyID, "key id to encrypt with (its key is in TEMPORAL_ENCRYPTION_KEY_<id>)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *expectedPath == "" {
		return errors.New("-expected FILE is required")
	}
	encryption, err := newEncryptionCodec(*keyID)
	if err != nil {
		return err
	}
	zlib := converter.NewZlibCodec(converter.ZlibCodecOptions{AlwaysEncode: true})
	parent := converter.GetDefaultDataConverter()

	// The Go SDK applies a codec list the other way round from TypeScript: CodecDataConverter encodes with the LAST
	// codec first and decodes with the FIRST codec first (encodePayloads iterates backwards, decodePayloads forwards,
	// in go.temporal.io/sdk/converter/codec.go). So (encryption, zlib) compresses, then encrypts, exactly as
	// TypeScript's payloadCodecs: [compression, encryption] does.
	encryptedOnly := converter.NewCodecDataConverter(parent, encryption)
	compressedThenEncrypted := converter.NewCodecDataConverter(parent, encryption, zlib)
	zlibOnly := converter.NewCodecDataConverter(parent, zlib)
	// Trenova's Go codec lists (zlib, encryption): encrypt first, then zlib-wrap the serialized binary/encrypted payload.
	encryptedThenCompressed := converter.NewCodecDataConverter(parent, zlib, encryption)

	records := make([]map[string]any, 0, 64)
	for i := 0; i < 64; i++ {
		records = append(records, map[string]any{
			"id":      i,
			"status":  "delivered",
			"comment": "a shipment record repeated to make the payload large and compressible",
		})
	}
	cases := []struct {
		converter converter.DataConverter
		value     any
	}{
		// A small JSON value, encrypted only (below any compression threshold).
		{encryptedOnly, map[string]any{"source": "go", "count": 3, "tags": []string{"a", "b"}, "text": "héllo ✓"}},
		// A large compressible value (> 1 KiB serialized): zlib, then AES-GCM.
		{compressedThenEncrypted, map[string]any{"source": "go", "records": records}},
		// zlib only, and small: AlwaysEncode compresses it although it is far below the TypeScript threshold, so
		// the TypeScript decoder must follow the payload's own marker rather than its configuration.
		{zlibOnly, "compressed by the Go SDK's ZlibCodec"},
		// Encrypted, then compressed (AlwaysEncode): zlib(encrypted(x)), which TypeScript must open in either order.
		{encryptedThenCompressed, map[string]any{"source": "go, Trenova's codec order", "records": records[:4]}},
	}

	out := &commonpb.Payloads{}
	expected := make([]any, 0, len(cases))
	for i, c := range cases {
		encoded, err := c.converter.ToPayload(c.value)
		if err != nil {
			return fmt.Errorf("value %d: encode: %w", i, err)
		}
		out.Payloads = append(out.Payloads, encoded)

		plain, err := parent.ToPayload(c.value)
		if err != nil {
			return fmt.Errorf("value %d: convert: %w", i, err)
		}
		var value any
		if err := parent.FromPayload(plain, &value); err != nil {
			return fmt.Errorf("value %d: read back: %w", i, err)
		}
		expected = append(expected, value)
	}

	expectedJSON, err := json.Marshal(expected)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*expectedPath, expectedJSON, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", *expectedPath, err)
	}
	document, err := protojson.Marshal(out)
	if err != nil {
		return err
	}
	_, err = stdout.Write(append(document, '\n'))
	return err
}

// decode reads payloads in proto3 JSON, decrypts and inflates them as the Go SDK would, and prints their values.
func decode(stdin io.Reader, stdout io.Writer) error {
	document, err := io.ReadAll(io.LimitReader(stdin, maxStdinBytes+1))
	if err != nil {
		return err
	}
	if int64(len(document)) > maxStdinBytes {
		return fmt.Errorf("input is larger than %d bytes", maxStdinBytes)
	}
	var in commonpb.Payloads
	if err := protojson.Unmarshal(document, &in); err != nil {
		return fmt.Errorf("input is not a {\"payloads\": [...]} document: %w", err)
	}
	// Decoding runs the list first to last: decrypt, then inflate when the plaintext is binary/zlib (see produce).
	dc := converter.NewCodecDataConverter(
		converter.GetDefaultDataConverter(),
		&encryptionCodec{},
		converter.NewZlibCodec(converter.ZlibCodecOptions{}),
	)
	values := make([]any, 0, len(in.Payloads))
	for i, payload := range in.Payloads {
		var value any
		if err := dc.FromPayload(payload, &value); err != nil {
			return fmt.Errorf("payloads[%d]: %w", i, err)
		}
		values = append(values, value)
	}
	result, err := json.Marshal(values)
	if err != nil {
		return err
	}
	_, err = stdout.Write(append(result, '\n'))
	return err
}

// encryptionCodec is a converter.PayloadCodec for binary/encrypted: data = nonce || ciphertext || tag, the plaintext
// the whole serialized Payload, no associated data; decode looks the key up by the payload's own key id.
type encryptionCodec struct {
	activeKeyID string
	activeKey   []byte
}

func newEncryptionCodec(activeKeyID string) (*encryptionCodec, error) {
	key, err := loadKey(activeKeyID)
	if err != nil {
		return nil, err
	}
	return &encryptionCodec{activeKeyID: activeKeyID, activeKey: key}, nil
}

func (c *encryptionCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if c.activeKey == nil {
		return nil, errors.New("no active key: this codec only decodes")
	}
	aead, err := newGCM(c.activeKey)
	if err != nil {
		return nil, err
	}
	result := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plaintext, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, nonceLength)
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

func (c *encryptionCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	result := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != encodingEncrypted {
			result[i] = p
			continue
		}
		keyID := string(p.GetMetadata()[metadataKeyID])
		// One message for every failure, as the wire format asks: no oracle.
		failed := fmt.Errorf("decryption failed (key id %q)", keyID)
		key, err := loadKey(keyID)
		if err != nil || len(p.GetData()) < nonceLength+tagLength {
			return nil, failed
		}
		aead, err := newGCM(key)
		if err != nil {
			return nil, failed
		}
		data := p.GetData()
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

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block) // 12-byte nonce, 16-byte tag
}

// loadKey reads TEMPORAL_ENCRYPTION_KEY_<keyID>; errors name the variable, never its value.
func loadKey(keyID string) ([]byte, error) {
	name := keyVariablePrefix + keyID
	value, ok := os.LookupEnv(name)
	if !ok {
		return nil, fmt.Errorf("%s is not set", name)
	}
	switch {
	case strings.HasPrefix(value, "base64:"):
		text := strings.TrimSpace(strings.TrimPrefix(value, "base64:"))
		key, err := base64.StdEncoding.Strict().DecodeString(text)
		if err != nil || len(key) != keyLength {
			return nil, fmt.Errorf("%s must be base64 of exactly %d bytes after \"base64:\"", name, keyLength)
		}
		return key, nil
	case strings.HasPrefix(value, "hex:"):
		text := strings.TrimSpace(strings.TrimPrefix(value, "hex:"))
		key, err := hex.DecodeString(text)
		if err != nil || len(key) != keyLength {
			return nil, fmt.Errorf("%s must hold exactly %d hex digits after \"hex:\"", name, 2*keyLength)
		}
		return key, nil
	default:
		// Text of at least 32 bytes: its first 32 bytes are the key (the Trenova Go codec's rule).
		if len(value) < keyLength {
			return nil, fmt.Errorf("%s is %d bytes; a text key needs at least %d", name, len(value), keyLength)
		}
		return bytes.Clone([]byte(value)[:keyLength]), nil
	}
}
