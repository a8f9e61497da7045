// events.js: one websocket to /api/v1/events shared by the views.
//
// subscribe(filter, onEvent, onResync) sends a subscription (filter
// language: events/doc.go) and calls onEvent for each event of it.
// When the server drops the subscription (its queue overflowed) or the
// socket reconnects, the subscription is made again and onResync is
// called: events may have been missed, so the view should reload.

import { wsURL } from './api.js'

const DELAYS = [500, 1000, 2000, 5000, 10000, 30000]

export class EventSocket {
  constructor(path = '/api/v1/events') {
    this.path = path
    this.ws = null
    this.subs = new Map() // local id -> {filter, onEvent, onResync, channel}
    this.pending = new Map() // requestId -> local id
    this.byChannel = new Map() // server channel -> local id
    this.seq = 0
    this.failures = 0
    this.closed = true
    this.timer = 0
  }

  // open connects (again) unless it is connected.
  open() {
    this.closed = false
    if (this.ws) return
    const ws = new WebSocket(wsURL(this.path))
    this.ws = ws
    ws.onopen = () => {
      this.failures = 0
      this.byChannel.clear()
      for (const id of this.subs.keys()) this.send(id)
    }
    ws.onmessage = (m) => this.receive(m.data)
    ws.onclose = () => {
      if (this.ws !== ws) return
      this.ws = null
      this.byChannel.clear()
      if (this.closed) return
      for (const s of this.subs.values()) s.lost = true
      const delay = DELAYS[Math.min(this.failures++, DELAYS.length - 1)]
      this.timer = setTimeout(() => this.open(), delay)
    }
  }

  // close ends the socket for good (sign-out).
  close() {
    this.closed = true
    clearTimeout(this.timer)
    const ws = this.ws
    this.ws = null
    ws?.close()
    this.subs.clear()
    this.pending.clear()
    this.byChannel.clear()
  }

  // subscribe returns a function that ends the subscription.
  subscribe(filter, onEvent, onResync = () => {}) {
    const id = String(++this.seq)
    this.subs.set(id, { filter, onEvent, onResync, channel: '', lost: false })
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.send(id)
    else this.open()
    return () => {
      const s = this.subs.get(id)
      this.subs.delete(id)
      if (s && s.channel && this.ws && this.ws.readyState === WebSocket.OPEN) {
        this.byChannel.delete(s.channel)
        this.ws.send(JSON.stringify({ action: 'unsubscribe', requestId: `u${id}`, channel: s.channel }))
      }
    }
  }

  send(id) {
    const s = this.subs.get(id)
    if (!s || !this.ws) return
    const requestId = `s${id}.${++this.seq}`
    this.pending.set(requestId, id)
    this.ws.send(JSON.stringify({ action: 'subscribe', requestId, filter: s.filter }))
  }

  receive(data) {
    let msg
    try {
      msg = JSON.parse(data)
    } catch {
      return
    }
    if (msg.requestId && this.pending.has(msg.requestId)) {
      const id = this.pending.get(msg.requestId)
      this.pending.delete(msg.requestId)
      const s = this.subs.get(id)
      if (!s || msg.status !== 200 || !msg.result) return
      s.channel = msg.result.channel
      this.byChannel.set(s.channel, id)
      if (s.lost) {
        s.lost = false
        s.onResync()
      }
      return
    }
    const id = this.byChannel.get(msg.channel)
    const s = id && this.subs.get(id)
    if (!s) return
    if (msg.type === 'overflow') {
      this.byChannel.delete(msg.channel)
      s.channel = ''
      s.lost = true
      this.send(id)
      return
    }
    if (msg.event) s.onEvent(msg.event)
  }
}
