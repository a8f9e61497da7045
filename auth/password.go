package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// argonParams are the argon2id parameters of a hash.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	keyLen  uint32
	saltLen int
}

var (
	// productionParams are OWASP's recommended minimum for argon2id (19 MiB,
	// two passes, one lane): about 40 ms and 19 MiB per verification. More
	// memory would buy little against guessing (logins are throttled) and
	// would dominate the footprint of a server meant for a NAS. Hashes
	// carry their parameters, so older ones still verify.
	productionParams = argonParams{memory: 19 * 1024, time: 2, threads: 1, keyLen: 32, saltLen: 16}
	// minimalParams are the cheapest argon2id allows, for tests.
	minimalParams = argonParams{memory: 8, time: 1, threads: 1, keyLen: 32, saltLen: 16}
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails: crypto/rand crashes the program instead
	return b
}

var b64 = base64.RawStdEncoding

// hashPassword returns an argon2id hash of password in the PHC string format
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, so verification can read the
// parameters back and they may change later.
func hashPassword(p argonParams, password string) string {
	salt := randomBytes(p.saltLen)
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, p.keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

var errBadHash = errors.New("malformed password hash")

// verifyPassword reports whether password matches encoded, a hash made by
// hashPassword (with any parameters). The comparison is constant-time.
func verifyPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false, errBadHash
	}
	var v [3]uint64 // m, t, p
	kvs := strings.Split(parts[3], ",")
	if len(kvs) != 3 {
		return false, errBadHash
	}
	for i, k := range []string{"m=", "t=", "p="} {
		s, ok := strings.CutPrefix(kvs[i], k)
		n, err := strconv.ParseUint(s, 10, 32)
		if !ok || err != nil {
			return false, errBadHash
		}
		v[i] = n
	}
	m, t, p := v[0], v[1], v[2]
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	// Bounds keep a corrupt row from costing unbounded memory or time.
	if err1 != nil || err2 != nil || p < 1 || p > 255 || m < 8*p || m > 4<<20 || t < 1 || t > 64 ||
		len(salt) < 8 || len(key) < 16 || len(key) > 128 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, uint32(t), uint32(m), uint8(p), uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

const (
	minPasswordLen = 10
	maxPasswordLen = 1024
)

// commonPasswords are among the most used passwords of at least
// minPasswordLen characters (compared ignoring case); shorter ones are
// refused by length anyway.
var commonPasswords = map[string]bool{
	"1234567890": true, "0987654321": true, "12345678910": true, "123456789a": true,
	"a123456789": true, "1234567890a": true, "123456789q": true, "1q2w3e4r5t": true,
	"1q2w3e4r5t6y": true, "q1w2e3r4t5": true, "qwertyuiop": true, "qwerty1234": true,
	"qwerty12345": true, "qwerty123456": true, "1234qwerty": true, "asdfghjkl1": true,
	"zxcvbnm123": true, "password12": true, "password123": true, "password1234": true,
	"password!!": true, "passw0rd123": true, "p@ssw0rd123": true, "p@ssword123": true,
	"iloveyou12": true, "iloveyou123": true, "letmein123": true, "welcome123": true,
	"welcome1234": true, "changeme123": true, "administrator": true, "admin12345": true,
	"admin123456": true, "abcdefghij": true, "abcd123456": true, "abc1234567": true,
	"princess123": true, "football123": true, "baseball123": true, "sunshine123": true,
	"superman123": true, "trustno1234": true, "monkey12345": true, "dragon12345": true,
	"computer123": true, "internet123": true, "qazwsxedc123": true, "1qaz2wsx3edc": true,
	"1qazxsw23edc": true, "qazwsxedcrfv": true, "azertyuiop": true, "azerty1234": true,
	"123123123123": true, "1212121212": true, "1231231231": true, "wharfwharf": true,
}

// checkPassword applies the password policy to a new password of user name.
func checkPassword(name, password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case password == "":
		return reason(ErrWeakPassword, "password is empty")
	case n < minPasswordLen:
		return reason(ErrWeakPassword, "password too short: at least %d characters", minPasswordLen)
	case n > maxPasswordLen:
		return reason(ErrWeakPassword, "password too long: at most %d characters", maxPasswordLen)
	case sameRune(password):
		return reason(ErrWeakPassword, "password too weak: all its characters are the same")
	case strings.EqualFold(password, name):
		return reason(ErrWeakPassword, "password too weak: it is the user name")
	case commonPasswords[strings.ToLower(password)]:
		return reason(ErrWeakPassword, "password too weak: it is one of the most common passwords")
	}
	return nil
}

func sameRune(s string) bool {
	first, _ := utf8.DecodeRuneInString(s)
	for _, r := range s {
		if r != first {
			return false
		}
	}
	return true
}

const maxNameLen = 64

// checkName checks a user name: 1-64 ASCII letters, digits and . _ - @ +,
// starting with a letter or digit. That lets e-mail addresses be names and
// keeps out ':' (Basic auth), '/', whitespace and control characters. ASCII
// only, because the database compares names ignoring ASCII case only.
func checkName(name string) error {
	if name == "" {
		return reason(ErrBadName, "user name is empty")
	}
	if len(name) > maxNameLen {
		return reason(ErrBadName, "user name too long: at most %d characters", maxNameLen)
	}
	if !isAlnum(name[0]) {
		return reason(ErrBadName, "user name %q must start with a letter or a digit", name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && !strings.ContainsRune("._-@+", rune(c)) {
			return reason(ErrBadName, "user name %q: only letters, digits and . _ - @ + are allowed", name)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// asciiEqualFold compares names the way the database does (COLLATE NOCASE).
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
