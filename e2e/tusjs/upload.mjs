#!/usr/bin/env node
// upload.mjs drives tus-js-client (the version pinned in package-lock.json)
// the way a Node program uses it: a file read with fs.createReadStream, its
// upload URL kept in a tus.FileUrlStorage file so that a later run resumes
// it. The e2e tests (e2e/tusjs_test.go) run it against a real server.
//
// Output: one JSON object per line on stdout, each with an "event":
//   url       the upload URL is known               {url}
//   progress  every --progress-every bytes sent      {bytesSent, bytesTotal}
//   chunk     a PATCH was acknowledged               {bytesAccepted, bytesTotal}
//   success   the upload is complete                 {url, status, headers, ...}
//   aborted   stopped as --abort-after asked         {url, bytesAccepted, ...}
//   error     the upload failed                      {message, status, body, ...}
// success, aborted and error are the last line and carry the same summary:
// url, bytesSent (the highest offset the client handed to the network),
// bytesAccepted (the highest offset a server acknowledged), resumedFrom (the
// offset HEAD returned when resuming, else null) and requests (method,
// status and Upload-Offset of every answer received).
//
// Exit status: 0 success, 1 upload failed, 2 bad usage, 3 aborted after
// --abort-after with the URL stored, 4 --resume found no stored upload.
//
// The password is read from $TUSJS_PASSWORD (or --password, which shows in
// ps). Only loopback is expected; nothing here enforces it.

import * as fs from 'node:fs'
import { Transform } from 'node:stream'
import { parseArgs } from 'node:util'
import * as tus from 'tus-js-client'

const EXIT_FAILED = 1
const EXIT_USAGE = 2
const EXIT_ABORTED = 3
const EXIT_NOTHING_STORED = 4

const usage = `usage: node upload.mjs --file PATH --endpoint URL --storage PATH [options]
  --file PATH            file to upload (read with fs.createReadStream)
  --endpoint URL         tus creation URL, e.g. http://127.0.0.1:8080/tus/
  --storage PATH         tus.FileUrlStorage JSON file keeping the upload URL
  --user NAME            Basic auth user (password: $TUSJS_PASSWORD or --password)
  --meta KEY=VALUE       Upload-Metadata entry (repeatable)
  --header NAME:VALUE    extra request header, e.g. "Prefer: respond-async" (repeatable)
  --chunk-size BYTES     bytes per PATCH (default: the whole file in one PATCH)
  --retry-delays MS,...  tus-js-client retryDelays (default 0,1000,3000,5000; "" = no retries)
  --abort-after BYTES    abort (without terminating) once a PATCH acknowledged >= BYTES; exit 3
  --resume               resume the upload stored in --storage (HEAD, then PATCH); never
                         creates a new upload (a POST fails the run); exit 4 if none is stored
  --rate BYTES_PER_SEC   throttle the request bodies (so a test can act mid-upload)
  --progress-every BYTES print a progress line every so many bytes sent (default 1048576)
  --timeout SECONDS      give up after this long (default 300)`

let opts
try {
  opts = parseArgs({
    options: {
      file: { type: 'string' },
      endpoint: { type: 'string' },
      storage: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      meta: { type: 'string', multiple: true, default: [] },
      header: { type: 'string', multiple: true, default: [] },
      'chunk-size': { type: 'string' },
      'retry-delays': { type: 'string', default: '0,1000,3000,5000' },
      'abort-after': { type: 'string' },
      resume: { type: 'boolean', default: false },
      rate: { type: 'string' },
      'progress-every': { type: 'string', default: String(1 << 20) },
      timeout: { type: 'string', default: '300' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }).values
} catch (err) {
  usageError(err.message)
}
if (opts.help) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}
if (!opts.file || !opts.storage || !opts.endpoint) {
  usageError('--file, --storage and --endpoint are required')
}

const chunkSize = positiveInt('chunk-size', Number.POSITIVE_INFINITY)
const abortAfter = positiveInt('abort-after', null)
const rate = positiveInt('rate', null)
const progressEvery = positiveInt('progress-every', 1 << 20)
const timeoutSec = positiveInt('timeout', 300)
const retryDelays = opts['retry-delays'].trim() === '' ? null : opts['retry-delays'].split(',').map(Number)
if (retryDelays?.some((d) => !Number.isFinite(d) || d < 0)) {
  usageError(`--retry-delays ${opts['retry-delays']}: want milliseconds separated by commas`)
}

const metadata = {}
for (const kv of opts.meta) {
  const i = kv.indexOf('=')
  if (i <= 0) usageError(`--meta ${kv}: want KEY=VALUE`)
  metadata[kv.slice(0, i)] = kv.slice(i + 1)
}
const headers = {}
for (const h of opts.header) {
  const i = h.indexOf(':')
  if (i <= 0) usageError(`--header ${h}: want NAME:VALUE`)
  headers[h.slice(0, i).trim()] = h.slice(i + 1).trim()
}
const password = process.env.TUSJS_PASSWORD ?? opts.password
if (opts.user) {
  headers.Authorization = `Basic ${Buffer.from(`${opts.user}:${password ?? ''}`).toString('base64')}`
}

// What every final line reports.
const summary = {
  url: null,
  bytesTotal: null,
  bytesSent: 0,
  bytesAccepted: 0,
  resumedFrom: null,
  requests: [],
}

function emit(event, fields = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`)
}

function finish(event, code, fields = {}) {
  emit(event, { ...summary, ...fields })
  // Exit once stdout is flushed (it is a pipe when a test reads it).
  process.stdout.write('', () => process.exit(code))
}

function usageError(msg) {
  process.stderr.write(`upload.mjs: ${msg}\n${usage}\n`)
  process.exit(EXIT_USAGE)
}

function positiveInt(name, dflt) {
  const v = opts[name]
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n <= 0) usageError(`--${name} ${v}: want a positive integer`)
  return n
}

// CountingHttpStack is tus-js-client's Node HTTP stack with each request body
// passed through a counter (and, with --rate, a throttle), so bytesSent is
// exactly what was handed to the socket: an upper bound of what the server
// can have received. tus-js-client's own progress events are throttled to
// one per 100 ms and may miss the last bytes before a failure.
class CountingHttpStack extends tus.DefaultHttpStack {
  createRequest(method, url) {
    const req = super.createRequest(method, url)
    const send = req.send.bind(req)
    req.send = (body = null) => {
      if (body == null || typeof body.pipe !== 'function') return send(body)
      const start = Number(req.getHeader('Upload-Offset') ?? 0)
      const counted = body.pipe(new Counter(start))
      counted.size = body.size // the stack sets Content-Length from it
      return send(counted)
    }
    return req
  }
}

class Counter extends Transform {
  constructor(start) {
    super()
    this._pos = start
    this._t0 = Date.now()
    this._n = 0
    this._nextProgress = (Math.floor(start / progressEvery) + 1) * progressEvery
  }

  _transform(chunk, _enc, callback) {
    const pass = () => {
      this._pos += chunk.length
      this._n += chunk.length
      summary.bytesSent = Math.max(summary.bytesSent, this._pos)
      if (this._pos >= this._nextProgress) {
        emit('progress', { bytesSent: this._pos, bytesTotal: summary.bytesTotal })
        this._nextProgress = (Math.floor(this._pos / progressEvery) + 1) * progressEvery
      }
      callback(null, chunk)
    }
    if (!rate) return pass()
    const due = this._t0 + ((this._n + chunk.length) * 1000) / rate
    const wait = due - Date.now()
    if (wait > 0) setTimeout(pass, wait)
    else pass()
  }
}

const storage = new tus.FileUrlStorage(opts.storage)
const stat = fs.statSync(opts.file)
summary.bytesTotal = stat.size

let upload
let settled = false

const options = {
  // With --resume the endpoint still matters: it is part of the fingerprint
  // the stored URL is found by.
  endpoint: opts.endpoint,
  metadata,
  headers,
  chunkSize,
  retryDelays,
  urlStorage: storage,
  httpStack: new CountingHttpStack(),
  storeFingerprintForResuming: true,
  removeFingerprintOnSuccess: false,

  onBeforeRequest(req) {
    // tus-js-client starts over with a new upload when HEAD answers 4xx; a
    // resume test must see that as the failure it is.
    if (opts.resume && req.getMethod() === 'POST') {
      throw new Error('--resume: the stored upload cannot be resumed and tus-js-client would start a new one')
    }
  },
  onUploadUrlAvailable() {
    summary.url = upload.url
    emit('url', { url: upload.url })
  },
  onAfterResponse(req, res) {
    const offset = res.getHeader('Upload-Offset')
    summary.requests.push({
      method: req.getMethod(),
      status: res.getStatus(),
      offset: offset === undefined ? null : Number(offset),
    })
    if (req.getMethod() === 'HEAD' && summary.resumedFrom === null && offset !== undefined) {
      summary.resumedFrom = Number(offset)
    }
  },
  onChunkComplete(_chunk, accepted, total) {
    summary.bytesAccepted = Math.max(summary.bytesAccepted, accepted)
    emit('chunk', { bytesAccepted: accepted, bytesTotal: total })
    if (abortAfter !== null && accepted >= abortAfter && accepted < total) {
      settled = true
      // abort(false): stop without DELETE, so the upload stays resumable.
      upload.abort(false).then(async () => {
        const stored = await storage.findAllUploads()
        if (!stored.some((u) => u.uploadUrl === upload.url)) {
          finish('error', EXIT_FAILED, { message: `aborted, but ${upload.url} is not in ${opts.storage}` })
          return
        }
        finish('aborted', EXIT_ABORTED)
      }, (err) => finish('error', EXIT_FAILED, { message: `abort: ${err}` }))
    }
  },
  onSuccess({ lastResponse }) {
    if (settled) return
    settled = true
    summary.bytesAccepted = summary.bytesTotal
    const res = lastResponse.getUnderlyingObject()
    finish('success', 0, {
      url: upload.url,
      status: lastResponse.getStatus(),
      headers: res?.headers ?? {},
      body: lastResponse.getBody(),
    })
  },
  onError(err) {
    if (settled) return
    settled = true
    const res = err.originalResponse
    finish('error', EXIT_FAILED, {
      message: String(err.message ?? err),
      cause: err.causingError ? String(err.causingError) : null,
      status: res ? res.getStatus() : null,
      headers: res?.getUnderlyingObject()?.headers ?? null,
      body: res ? res.getBody() : null,
    })
  },
}

setTimeout(() => {
  if (settled) return
  settled = true
  upload?.abort(false)
  finish('error', EXIT_FAILED, { message: `timed out after ${timeoutSec} s` })
}, timeoutSec * 1000).unref()

upload = new tus.Upload(fs.createReadStream(opts.file), options)

if (opts.resume) {
  const previous = await upload.findPreviousUploads()
  if (previous.length === 0) {
    finish('error', EXIT_NOTHING_STORED, { message: `no upload of ${opts.file} stored in ${opts.storage}` })
  } else {
    // The most recent one, should a file have been started more than once.
    previous.sort((a, b) => Date.parse(b.creationTime) - Date.parse(a.creationTime))
    summary.url = previous[0].uploadUrl
    upload.resumeFromPreviousUpload(previous[0])
    upload.start()
  }
} else {
  upload.start()
}
