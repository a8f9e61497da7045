package tus

import "github.com/wharfhq/wharf/postproc"

// setJobBlob gives a job the object key of its bytes (object-store mode).
//
// TODO(merge): postproc.Job gains its Blob field in the lead's change;
// until then the key travels only in the upload's row (uploads.blob).
func setJobBlob(job *postproc.Job, key string) { _, _ = job, key }
