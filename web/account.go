package web

import (
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wharfhq/wharf/auth"
	"github.com/wharfhq/wharf/internal/api"
	"github.com/wharfhq/wharf/space"
)

// rfc3339 formats t, or "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// handleAppPasswords serves GET AppPasswordsPath: the caller's app
// passwords, oldest first (never their secrets).
func (h *Handler) handleAppPasswords(w http.ResponseWriter, r *http.Request) {
	as, err := h.auth.AppPasswords(r.Context(), principal(r).User.Name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	type appPassword struct {
		ID       string `json:"id"`
		Label    string `json:"label"`
		Created  string `json:"created"`
		LastUsed string `json:"lastUsed"`
	}
	out := make([]appPassword, len(as))
	for i, a := range as {
		out[i] = appPassword{ID: strconv.FormatInt(a.ID, 10), Label: a.Label, Created: rfc3339(a.CreatedAt), LastUsed: rfc3339(a.LastUsedAt)}
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// handleCreateAppPassword serves POST AppPasswordsPath {"label",
// "password"}: a new app password, whose secret is in this answer only.
func (h *Handler) handleCreateAppPassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Label string `json:"label"`
		// Password is the account password, needed unless the request
		// came with it: a session, a token or an app password alone
		// cannot make an app password.
		Password string `json:"password"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	p := principal(r)
	user := p.User.Name
	a, secret, err := h.auth.CreateAppPasswordAs(r.Context(), p, r.RemoteAddr, in.Password, in.Label)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, map[string]string{
		"id": strconv.FormatInt(a.ID, 10), "label": a.Label, "password": secret, "user": user})
}

// handleRevokeAppPassword serves DELETE AppPasswordsPath/{id}.
func (h *Handler) handleRevokeAppPassword(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		h.fail(w, r, api.NotFound("no app password "+strconv.Quote(id)))
		return
	}
	if err := h.auth.RevokeAppPassword(r.Context(), principal(r).User.Name, id); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handlePassword serves POST PasswordPath {"current","new"}: the caller's
// account password changes if current is it (not an app password).
func (h *Handler) handlePassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	err := h.auth.ChangePassword(r.Context(), r.RemoteAddr, principal(r).User.Name, in.Current, in.New)
	if errors.Is(err, auth.ErrUnauthenticated) {
		h.fail(w, r, api.Forbidden("the current password is wrong"))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleUsers serves GET AdminPrefix+"users".
func (h *Handler) handleUsers(w http.ResponseWriter, r *http.Request) {
	us, err := h.auth.Users(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	type user struct {
		Name  string `json:"name"`
		Admin bool   `json:"admin"`
		Email string `json:"email,omitempty"`
	}
	out := make([]user, len(us))
	for i, u := range us {
		out[i] = user{Name: u.Name, Admin: u.Admin, Email: u.Email}
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// handleAddUser serves POST AdminPrefix+"users" {"name","password","admin",
// "email"}: without a password, one is made and answered once.
func (h *Handler) handleAddUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name     string `json:"name"`
		Password string `json:"password"`
		Admin    bool   `json:"admin"`
		Email    string `json:"email"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	email, err := auth.CheckEmail(in.Email)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	made := in.Password == ""
	if made {
		in.Password = rand.Text()
	}
	u, err := h.auth.AddUser(r.Context(), in.Name, in.Password, in.Admin)
	if err == nil && email != "" {
		err = h.auth.SetEmail(r.Context(), u.Name, email)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := map[string]any{"name": u.Name, "admin": u.Admin}
	if email != "" {
		out["email"] = email
	}
	if made {
		out["password"] = in.Password
	}
	api.WriteJSON(w, http.StatusCreated, out)
}

// handleSetEmail serves PUT AdminPrefix+"users/{name}/email" {"email"}:
// "" removes the address.
func (h *Handler) handleSetEmail(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email string `json:"email"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.auth.SetEmail(r.Context(), r.PathValue("name"), in.Email); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleRemoveUser serves DELETE AdminPrefix+"users/{name}"; admins cannot
// remove themselves (the instance would lose its last admin that way).
func (h *Handler) handleRemoveUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if strings.EqualFold(name, principal(r).User.Name) {
		h.fail(w, r, api.BadRequest("you cannot remove yourself"))
		return
	}
	if err := h.auth.RemoveUser(r.Context(), name); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminSpace is a space as the admin endpoints answer it.
type adminSpace struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Quota int64  `json:"quota"`
	Used  int64  `json:"used"`
}

// handleCreateSpace serves POST AdminPrefix+"spaces" {"name","quota","owner","id"}:
// a new space, with owner (if given) as its manager. A name in use is
// refused (409) unless an id is given for the second space.
func (h *Handler) handleCreateSpace(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Quota int64  `json:"quota"`
		Owner string `json:"owner"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.Quota < 0 {
		h.fail(w, r, api.BadRequest("quota %d is negative (0: none)", in.Quota))
		return
	}
	ctx := r.Context()
	if in.Owner != "" {
		// Checked first: a space without its owner is not what was asked.
		if _, err := h.auth.User(ctx, in.Owner); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	var s space.Space
	var err error
	if in.ID != "" {
		s, err = h.tree.CreateSpaceWithID(ctx, in.ID, in.Name, in.Quota)
		if errors.Is(err, space.ErrExists) {
			err = api.Errorf(http.StatusConflict, "a space with id %q exists already", in.ID)
		}
	} else {
		s, err = h.tree.CreateSpace(ctx, in.Name, in.Quota)
		if errors.Is(err, space.ErrExists) {
			err = api.Errorf(http.StatusConflict, "%v; give the second one an id of its own", err)
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if in.Owner != "" {
		if err := h.auth.Grant(ctx, s.ID, in.Owner, auth.Manager); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	api.WriteJSON(w, http.StatusCreated, adminSpace{ID: s.ID, Name: s.Name, Quota: s.QuotaBytes, Used: s.UsedBytes})
}

// handleSetQuota serves PATCH AdminPrefix+"spaces/{id}" {"quota"}.
func (h *Handler) handleSetQuota(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Quota *int64 `json:"quota"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.Quota == nil || *in.Quota < 0 {
		h.fail(w, r, api.BadRequest(`send {"quota": bytes}, 0 for none`))
		return
	}
	id := r.PathValue("id")
	if err := h.tree.SetQuota(r.Context(), id, *in.Quota); err != nil {
		h.fail(w, r, err)
		return
	}
	s, err := h.tree.Space(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, adminSpace{ID: s.ID, Name: s.Name, Quota: s.QuotaBytes, Used: s.UsedBytes})
}

// handleDeleteSpace serves DELETE AdminPrefix+"spaces/{id}": the space and
// every file in it.
func (h *Handler) handleDeleteSpace(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := h.tree.Space(r.Context(), id); err != nil {
		if errors.Is(err, space.ErrNotFound) {
			err = api.NotFound("no such space")
		}
		h.fail(w, r, err)
		return
	}
	if err := h.tree.DeleteSpace(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleMembers serves GET .../members (managers and admins).
func (h *Handler) handleMembers(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), "", auth.Manager)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ms, err := h.auth.Members(r.Context(), t.Space)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	type member struct {
		User string `json:"user"`
		Role string `json:"role"`
	}
	out := make([]member, len(ms))
	for i, m := range ms {
		out[i] = member{User: m.User, Role: string(m.Role)}
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// handleGrant serves PUT .../members/{user} {"role"}.
func (h *Handler) handleGrant(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Role string `json:"role"`
	}
	if err := api.ReadJSON(r, 0, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	t, err := h.resolve(r, r.PathValue("space"), "", auth.Manager)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	role, err := auth.ParseRole(in.Role)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.auth.Grant(r.Context(), t.Space, r.PathValue("user"), role); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleRevoke serves DELETE .../members/{user}.
func (h *Handler) handleRevoke(w http.ResponseWriter, r *http.Request) {
	t, err := h.resolve(r, r.PathValue("space"), "", auth.Manager)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.auth.Revoke(r.Context(), t.Space, r.PathValue("user")); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
