package tus

import (
	"errors"
	"net/http"
	"syscall"
)

// diskFull turns a write that failed for want of room (ENOSPC, EDQUOT) into
// a 507 for the client; other errors pass unchanged. What a PATCH wrote
// before the disk filled up is kept and recorded, so once there is room
// the client resumes from the offset HEAD reports.
func diskFull(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return tusError(http.StatusInsufficientStorage, "the server's disk is full")
	}
	return err
}
