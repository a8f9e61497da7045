package store

import (
	"context"
	"fmt"
	"os"
	"time"
)

// commitEnv makes the test binary a second process that commits one
// change to the database at the given path and exits (see TestMain).
const commitEnv = "WHARF_STORE_TEST_COMMIT"

func commitAndExit(path string) int {
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer db.Close()
	err = db.Update(ctx, func(tx *Tx) error {
		_, err := tx.CreateUser(ctx, User{Name: "from-another-process", PasswordHash: "x", CreatedAt: time.Unix(1, 0)})
		return err
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
