// login.js: the sign-in form.

import { h, field, replace } from '../dom.js'

export function render(main, ctx) {
  const user = h('input', { type: 'text', name: 'user', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' })
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true })
  const err = h('p', { class: 'error', role: 'alert' })
  const btn = h('button', { type: 'submit', class: 'primary' }, 'Sign in')
  const form = h('form', { class: 'stack' }, field('User name', user), field('Password', password), err, btn)
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    err.textContent = ''
    btn.disabled = true
    try {
      await ctx.signIn(user.value.trim(), password.value)
    } catch (ex) {
      err.textContent = ex.status === 429 && ex.retryAfter
        ? `Too many attempts. Try again in ${ex.retryAfter} seconds.`
        : ex.message
      password.select()
    } finally {
      btn.disabled = false
    }
  })
  replace(main, h('div', { class: 'login card' }, h('h1', {}, 'Sign in to Wharf'), form))
  user.focus()
}
