// spaces.js: the spaces the user has a role in, with their use of quota.

import { api } from '../api.js'
import { h, replace, size } from '../dom.js'

export async function render(main) {
  replace(main, h('h1', {}, 'Spaces'), h('p', { class: 'loading' }, 'Loading…'))
  const spaces = await api('GET', '/spaces')
  const list = spaces.length === 0
    ? h('p', {}, 'You have no spaces yet. An administrator can create one or give you a role in one.')
    : h('ul', { class: 'spaces' }, spaces.map((s) => h('li', { class: 'card' },
      h('a', { class: 'space-name', href: `#/s/${encodeURIComponent(s.id)}/` }, s.name || s.id),
      h('span', { class: `badge role-${s.role}` }, s.role),
      usage(s))))
  replace(main, h('h1', {}, 'Spaces'), list)
}

// usage shows what a space holds, against its quota when it has one.
export function usage(s) {
  const kept = s.retained ? ` (+ ${size(s.retained)} in trash and versions)` : ''
  if (!s.quota) return h('p', { class: 'muted' }, `${size(s.used || 0)} used${kept}`)
  const pct = Math.min(100, Math.round((100 * (s.used || 0)) / s.quota))
  return h('div', { class: 'usage' },
    h('meter', { min: 0, max: s.quota, value: s.used || 0, high: s.quota * 0.9, 'aria-label': `Quota used in ${s.name || s.id}` }),
    h('span', { class: 'muted' }, `${size(s.used || 0)} of ${size(s.quota)} (${pct}%)${kept}`))
}
