package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/wharfhq/wharf/internal/testservers"
)

// TestBlobsOneServer: "wharf serve --blobs" on SeaweedFS's S3 gateway.
// litmus passes 104/104; a WebDAV PUT and a tus upload (processed) are
// objects in the bucket, not files of the data directory, and read back
// identical; a MOVE changes no object; a DELETE into the trash keeps the
// object and a purge deletes it.
func TestBlobsOneServer(t *testing.T) {
	s3 := testservers.StartS3(t)
	data := t.TempDir()
	in := start(t, data, append(s3.Env(), "WHARF_BLOBS="+s3.URL(), "WHARF_ADMIN_PASSWORD="+davPW)...)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+davPW))
	objects := func() []string {
		var keys []string
		c := s3.Client(t)
		for o := range c.ListObjects(context.Background(), s3.Bucket, minio.ListObjectsOptions{Prefix: "c/", Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, o.Key)
		}
		return keys
	}
	files := func() []string {
		var out []string
		filepath.WalkDir(filepath.Join(data, "spaces"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				out = append(out, p)
			}
			return nil
		})
		return out
	}

	t.Run("litmus", func(t *testing.T) {
		litmus := requireTool(t, "litmus", "litmus")
		runLitmus(t, litmus, in.URL, "admin", davPW)
	})

	old := map[string]bool{}
	for _, k := range objects() {
		old[k] = true
	}
	before := len(old)
	body := bytes.Repeat([]byte("wharf on s3 "), 50000)
	if st, _, b := in.pubReq("PUT", "/dav/spaces/files/put.bin", basic, body); st != 201 {
		t.Fatalf("PUT: %d %s", st, b)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 700000) // 11 MiB: several parts
	in.tusPut(basic, "files", "tus.bin", big)
	for name, want := range map[string][]byte{"put.bin": body, "tus.bin": big} {
		resp := in.do("GET", "/dav/spaces/files/"+name, "admin", davPW, nil)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Fatalf("GET %s: %d, %d bytes, identical %v", name, resp.StatusCode, len(got), bytes.Equal(got, want))
		}
	}
	// A range is a ranged GET of the object.
	if st, _, b := in.pubReq("GET", "/dav/spaces/files/tus.bin", basic, nil, "Range: bytes=16-31"); st != 206 || b != "0123456789abcdef" {
		t.Fatalf("range: %d %q", st, b)
	}
	if n := len(objects()); n != before+2 {
		t.Fatalf("%d objects, want %d", n, before+2)
	}
	if f := files(); len(f) != 0 {
		t.Fatalf("files in the data directory's spaces: %v", f)
	}
	var added []string
	for _, k := range objects() {
		if !old[k] {
			added = append(added, k)
		}
	}
	keys := strings.Join(objects(), " ")
	if st, _, b := in.pubReq("MOVE", "/dav/spaces/files/put.bin", basic, nil, "Destination: "+in.URL+"/dav/spaces/files/moved.bin"); st != 201 {
		t.Fatalf("MOVE: %d %s", st, b)
	}
	if got := strings.Join(objects(), " "); got != keys {
		t.Fatalf("a MOVE changed the objects: %s → %s", keys, got)
	}
	if st, _, b := in.pubReq("DELETE", "/dav/spaces/files/moved.bin", basic, nil); st != 204 {
		t.Fatalf("DELETE: %d %s", st, b)
	}
	if got := strings.Join(objects(), " "); got != keys {
		t.Fatalf("a DELETE into the trash changed the objects: %s → %s", keys, got)
	}
	if st, _, b := in.pubReq("DELETE", "/api/v1/spaces/files/trash", basic, nil); st != 200 && st != 204 {
		t.Fatalf("purge the trash: %d %s", st, b)
	}
	// The purge empties the whole trash (litmus's deletes too): of the
	// two objects added, the deleted file's is gone, tus.bin's stays.
	left := map[string]bool{}
	for _, k := range objects() {
		left[k] = true
	}
	if n := len(added); n != 2 || left[added[0]] == left[added[1]] {
		t.Fatalf("objects added %v, left after the purge: %v", added, left)
	}
}
