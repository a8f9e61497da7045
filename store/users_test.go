package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// openUsersDB opens a fresh database in a temp dir with two spaces, "s1" and
// "s2", inserted with plain SQL so these tests do not depend on spaces.go.
func openUsersDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.Context(), testLocation(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	err = db.Update(t.Context(), func(tx *Tx) error {
		_, err := tx.tx.ExecContext(t.Context(),
			"INSERT INTO spaces (id, name, created_at) VALUES ('s1', 'One', 1), ('s2', 'Two', 2)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func mustUpdate(t *testing.T, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.Update(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

func createUsers(t *testing.T, db *DB, names ...string) []User {
	t.Helper()
	var us []User
	mustUpdate(t, db, func(tx *Tx) error {
		for i, n := range names {
			u, err := tx.CreateUser(t.Context(), User{Name: n, PasswordHash: "h-" + n, Admin: i == 0,
				CreatedAt: time.Unix(100+int64(i), 5).UTC()})
			if err != nil {
				return err
			}
			us = append(us, u)
		}
		return nil
	})
	return us
}

// TestUsersConformance runs each query against a real SQLite file.
func TestUsersConformance(t *testing.T) {
	ctx := context.Background()
	at := time.Unix(1_700_000_000, 123).UTC()
	tests := []struct {
		name string
		run  func(t *testing.T, db *DB)
	}{
		{"user by name ignores case, by id, list, count", func(t *testing.T, db *DB) {
			us := createUsers(t, db, "alice", "Bob")
			got, err := db.UserByName(ctx, "ALICE")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, us[0]) || !got.Admin {
				t.Errorf("UserByName = %+v, want %+v", got, us[0])
			}
			if got, err := db.UserByID(ctx, us[1].ID); err != nil || got.Name != "Bob" || got.Admin {
				t.Errorf("UserByID = %+v, %v", got, err)
			}
			all, err := db.Users(ctx)
			if err != nil || len(all) != 2 || all[0].Name != "alice" || all[1].Name != "Bob" {
				t.Errorf("Users = %+v, %v; want alice, Bob", all, err)
			}
			if n, err := db.CountUsers(ctx); n != 2 || err != nil {
				t.Errorf("CountUsers = %d, %v", n, err)
			}
		}},
		{"missing user", func(t *testing.T, db *DB) {
			if _, err := db.UserByName(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
				t.Errorf("UserByName = %v, want ErrNotFound", err)
			}
			if _, err := db.UserByID(ctx, 42); !errors.Is(err, ErrNotFound) {
				t.Errorf("UserByID = %v, want ErrNotFound", err)
			}
			err := db.Update(ctx, func(tx *Tx) error { return tx.SetPasswordHash(ctx, 42, "x") })
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("SetPasswordHash = %v, want ErrNotFound", err)
			}
			err = db.Update(ctx, func(tx *Tx) error { return tx.DeleteUser(ctx, 42) })
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("DeleteUser = %v, want ErrNotFound", err)
			}
		}},
		{"duplicate name in another case", func(t *testing.T, db *DB) {
			createUsers(t, db, "alice")
			err := db.Update(ctx, func(tx *Tx) error {
				_, err := tx.CreateUser(ctx, User{Name: "Alice", PasswordHash: "x", CreatedAt: at})
				return err
			})
			if !errors.Is(err, ErrExists) {
				t.Errorf("CreateUser = %v, want ErrExists", err)
			}
		}},
		{"set password hash", func(t *testing.T, db *DB) {
			u := createUsers(t, db, "alice")[0]
			mustUpdate(t, db, func(tx *Tx) error { return tx.SetPasswordHash(ctx, u.ID, "new") })
			if got, _ := db.UserByID(ctx, u.ID); got.PasswordHash != "new" {
				t.Errorf("hash = %q, want new", got.PasswordHash)
			}
		}},
		{"app passwords", func(t *testing.T, db *DB) {
			us := createUsers(t, db, "alice", "bob")
			var a1, a2 AppPassword
			mustUpdate(t, db, func(tx *Tx) error {
				var err error
				if a1, err = tx.CreateAppPassword(ctx, AppPassword{UserID: us[0].ID, Label: "phone", Hash: "h1", CreatedAt: at}); err != nil {
					return err
				}
				a2, err = tx.CreateAppPassword(ctx, AppPassword{UserID: us[0].ID, Label: "laptop", Hash: "h2", CreatedAt: at.Add(time.Second)})
				return err
			})
			// Labels are unique per user only.
			mustUpdate(t, db, func(tx *Tx) error {
				_, err := tx.CreateAppPassword(ctx, AppPassword{UserID: us[1].ID, Label: "phone", Hash: "h3", CreatedAt: at})
				return err
			})
			err := db.Update(ctx, func(tx *Tx) error {
				_, err := tx.CreateAppPassword(ctx, AppPassword{UserID: us[0].ID, Label: "phone", Hash: "h4", CreatedAt: at})
				return err
			})
			if !errors.Is(err, ErrExists) {
				t.Errorf("duplicate label: %v, want ErrExists", err)
			}
			err = db.Update(ctx, func(tx *Tx) error {
				_, err := tx.CreateAppPassword(ctx, AppPassword{UserID: 999, Label: "x", Hash: "h5", CreatedAt: at})
				return err
			})
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown user: %v, want ErrNotFound", err)
			}
			list, err := db.AppPasswords(ctx, us[0].ID)
			if err != nil || !reflect.DeepEqual(list, []AppPassword{a1, a2}) {
				t.Errorf("AppPasswords = %+v, %v; want %+v", list, err, []AppPassword{a1, a2})
			}
			a, u, err := db.AppPasswordByHash(ctx, "h2")
			if err != nil || a != a2 || u != us[0] {
				t.Errorf("AppPasswordByHash = %+v, %+v, %v", a, u, err)
			}
			if _, _, err := db.AppPasswordByHash(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Errorf("AppPasswordByHash(nope) = %v, want ErrNotFound", err)
			}
			mustUpdate(t, db, func(tx *Tx) error { return tx.TouchAppPassword(ctx, a1.ID, at.Add(time.Hour)) })
			if a, _, _ := db.AppPasswordByHash(ctx, "h1"); !a.LastUsedAt.Equal(at.Add(time.Hour)) {
				t.Errorf("LastUsedAt = %v, want %v", a.LastUsedAt, at.Add(time.Hour))
			}
			// Deleting by id is scoped to the owner.
			err = db.Update(ctx, func(tx *Tx) error { return tx.DeleteAppPassword(ctx, us[1].ID, a1.ID) })
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("delete other user's app password: %v, want ErrNotFound", err)
			}
			mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteAppPassword(ctx, us[0].ID, a1.ID) })
			mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteAppPasswordByLabel(ctx, us[0].ID, "laptop") })
			err = db.Update(ctx, func(tx *Tx) error { return tx.DeleteAppPasswordByLabel(ctx, us[0].ID, "laptop") })
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("delete twice: %v, want ErrNotFound", err)
			}
			if list, _ := db.AppPasswords(ctx, us[0].ID); len(list) != 0 {
				t.Errorf("after deletes: %+v", list)
			}
		}},
		{"tokens", func(t *testing.T, db *DB) {
			u := createUsers(t, db, "alice")[0]
			api := Token{ID: "tokapi", Hash: "ha", UserID: u.ID, Kind: "api", Label: "ci",
				Scopes: []string{"commit:list", "dav"}, CreatedAt: at}
			up := Token{ID: "tokup", Hash: "hu", UserID: u.ID, Kind: "upload", SpaceID: "s1", Prefix: "in/",
				CreatedAt: at.Add(time.Second), ExpiresAt: at.Add(time.Hour)}
			mustUpdate(t, db, func(tx *Tx) error {
				if err := tx.CreateToken(ctx, api); err != nil {
					return err
				}
				return tx.CreateToken(ctx, up)
			})
			err := db.Update(ctx, func(tx *Tx) error {
				return tx.CreateToken(ctx, Token{ID: "tokbad", Hash: "hb", UserID: u.ID, Kind: "upload", SpaceID: "nope", CreatedAt: at})
			})
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("token for unknown space: %v, want ErrNotFound", err)
			}
			err = db.Update(ctx, func(tx *Tx) error {
				return tx.CreateToken(ctx, Token{ID: "tokapi", Hash: "hz", UserID: u.ID, Kind: "api", CreatedAt: at})
			})
			if !errors.Is(err, ErrExists) {
				t.Errorf("duplicate token id: %v, want ErrExists", err)
			}
			got, gu, err := db.TokenByHash(ctx, "hu")
			if err != nil || !reflect.DeepEqual(got, up) || gu != u {
				t.Errorf("TokenByHash = %+v, %+v, %v; want %+v", got, gu, err, up)
			}
			if got, err := db.TokenByID(ctx, "tokapi"); err != nil || !reflect.DeepEqual(got, api) {
				t.Errorf("TokenByID = %+v, %v; want %+v", got, err, api)
			}
			list, err := db.Tokens(ctx, u.ID)
			if err != nil || len(list) != 2 || list[0].ID != "tokapi" || list[1].ID != "tokup" {
				t.Errorf("Tokens = %+v, %v", list, err)
			}
			mustUpdate(t, db, func(tx *Tx) error { return tx.TouchToken(ctx, "tokapi", at.Add(time.Minute)) })
			if got, _ := db.TokenByID(ctx, "tokapi"); !got.LastUsedAt.Equal(at.Add(time.Minute)) {
				t.Errorf("LastUsedAt = %v", got.LastUsedAt)
			}
			mustUpdate(t, db, func(tx *Tx) error {
				n, err := tx.DeleteExpiredTokens(ctx, at.Add(time.Hour))
				if n != 1 {
					t.Errorf("DeleteExpiredTokens = %d, want 1", n)
				}
				return err
			})
			mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteToken(ctx, "tokapi") })
			if _, _, err := db.TokenByHash(ctx, "ha"); !errors.Is(err, ErrNotFound) {
				t.Errorf("after delete: %v, want ErrNotFound", err)
			}
			err = db.Update(ctx, func(tx *Tx) error { return tx.DeleteToken(ctx, "tokapi") })
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("delete twice: %v, want ErrNotFound", err)
			}
		}},
		{"members", func(t *testing.T, db *DB) {
			us := createUsers(t, db, "carol", "alice")
			mustUpdate(t, db, func(tx *Tx) error {
				for _, m := range []Member{{"s1", us[0].ID, "", "viewer"}, {"s1", us[1].ID, "", "editor"}, {"s2", us[0].ID, "", "manager"}} {
					if err := tx.SetMember(ctx, m.SpaceID, m.UserID, m.Role); err != nil {
						return err
					}
				}
				// Upsert.
				return tx.SetMember(ctx, "s1", us[0].ID, "editor")
			})
			ms, err := db.Members(ctx, "s1")
			want := []Member{{"s1", us[1].ID, "alice", "editor"}, {"s1", us[0].ID, "carol", "editor"}}
			if err != nil || !reflect.DeepEqual(ms, want) {
				t.Errorf("Members = %+v, %v; want %+v", ms, err, want)
			}
			ms, err = db.MemberSpaces(ctx, us[0].ID)
			want = []Member{{"s1", us[0].ID, "carol", "editor"}, {"s2", us[0].ID, "carol", "manager"}}
			if err != nil || !reflect.DeepEqual(ms, want) {
				t.Errorf("MemberSpaces = %+v, %v; want %+v", ms, err, want)
			}
			if r, err := db.MemberRole(ctx, "s2", us[0].ID); r != "manager" || err != nil {
				t.Errorf("MemberRole = %q, %v", r, err)
			}
			if _, err := db.MemberRole(ctx, "s2", us[1].ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("MemberRole of non-member = %v, want ErrNotFound", err)
			}
			err = db.Update(ctx, func(tx *Tx) error { return tx.SetMember(ctx, "nope", us[0].ID, "viewer") })
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("SetMember in unknown space = %v, want ErrNotFound", err)
			}
			err = db.Update(ctx, func(tx *Tx) error { return tx.SetMember(ctx, "s1", us[0].ID, "owner") })
			if err == nil {
				t.Errorf("SetMember with role owner succeeded")
			}
			mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteMember(ctx, "s1", us[0].ID) })
			err = db.Update(ctx, func(tx *Tx) error { return tx.DeleteMember(ctx, "s1", us[0].ID) })
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("DeleteMember twice = %v, want ErrNotFound", err)
			}
			if ids, err := db.SpaceIDs(ctx); err != nil || !reflect.DeepEqual(ids, []string{"s1", "s2"}) {
				t.Errorf("SpaceIDs = %v, %v", ids, err)
			}
		}},
		{"deleting a user cascades", func(t *testing.T, db *DB) {
			u := createUsers(t, db, "alice")[0]
			mustUpdate(t, db, func(tx *Tx) error {
				if _, err := tx.CreateAppPassword(ctx, AppPassword{UserID: u.ID, Label: "p", Hash: "h", CreatedAt: at}); err != nil {
					return err
				}
				if err := tx.CreateToken(ctx, Token{ID: "t", Hash: "th", UserID: u.ID, Kind: "api", CreatedAt: at}); err != nil {
					return err
				}
				return tx.SetMember(ctx, "s1", u.ID, "viewer")
			})
			mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteUser(ctx, u.ID) })
			if _, _, err := db.AppPasswordByHash(ctx, "h"); !errors.Is(err, ErrNotFound) {
				t.Errorf("app password survived: %v", err)
			}
			if _, err := db.TokenByID(ctx, "t"); !errors.Is(err, ErrNotFound) {
				t.Errorf("token survived: %v", err)
			}
			if ms, _ := db.Members(ctx, "s1"); len(ms) != 0 {
				t.Errorf("membership survived: %+v", ms)
			}
		}},
		{"a transaction sees its own writes", func(t *testing.T, db *DB) {
			mustUpdate(t, db, func(tx *Tx) error {
				u, err := tx.CreateUser(ctx, User{Name: "dave", PasswordHash: "x", CreatedAt: at})
				if err != nil {
					return err
				}
				got, err := tx.UserByName(ctx, "dave")
				if err != nil || got.ID != u.ID {
					t.Errorf("in tx: %+v, %v", got, err)
				}
				return nil
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, openUsersDB(t)) })
	}
}

// TestAppPasswordIDsNotReused: revoking the app password with the highest
// id does not free that id for the next one.
func TestAppPasswordIDsNotReused(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	var uid int64
	err := db.Update(ctx, func(tx *Tx) error {
		u, err := tx.CreateUser(ctx, User{Name: "alice", PasswordHash: "x", CreatedAt: time.Now()})
		uid = u.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	create := func(label string) int64 {
		t.Helper()
		var a AppPassword
		err := db.Update(ctx, func(tx *Tx) error {
			var err error
			a, err = tx.CreateAppPassword(ctx, AppPassword{UserID: uid, Label: label, Hash: "h-" + label, CreatedAt: time.Now()})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	first, second := create("one"), create("two")
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteAppPassword(ctx, uid, second) }); err != nil {
		t.Fatal(err)
	}
	if third := create("three"); third <= second || first >= second {
		t.Errorf("ids %d, %d, then after revoking %d: %d; want a new id", first, second, second, third)
	}
}
