// Package bookstore is the demo that auditlog demo runs: an audited
// bookstore on SQLite with six weeks of history, a shop page to change it
// as alice, bob or carol, and the admin UI.
package bookstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/audithttp"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
)

// The demo's bookstore.
type (
	// Author writes books.
	Author struct {
		ID   uint
		Name string `gorm:"size:100"`
	}
	// Book has a decimal price, JSON details, tags and a soft delete.
	Book struct {
		ID        uint
		Title     string         `gorm:"size:200"`
		Price     string         `gorm:"type:decimal(10,2)"`
		Stock     int            //
		Details   map[string]any `gorm:"serializer:json"`
		AuthorID  uint           //
		Tags      []Tag          `gorm:"many2many:book_tags"`
		UpdatedAt time.Time      //
		DeletedAt gorm.DeletedAt `gorm:"index"`
	}
	// Tag labels books.
	Tag struct {
		ID   uint
		Name string `gorm:"size:50;uniqueIndex"`
	}
	// Customer has a masked email.
	Customer struct {
		ID    uint
		Name  string `gorm:"size:100"`
		Email string `gorm:"size:200"`
	}
)

func (a Author) String() string   { return a.Name }
func (b Book) String() string     { return b.Title }
func (t Tag) String() string      { return t.Name }
func (c Customer) String() string { return c.Name }

// users are the people the shop lets a visitor act as.
var users = []auditlog.Actor{{ID: "1", Name: "alice"}, {ID: "2", Name: "bob"}, {ID: "3", Name: "carol"}}

// Store is the bookstore's database with auditing installed.
type Store struct {
	db    *gorm.DB
	store *auditstore.Store
	clock *clock
}

// clock runs in the past while seeding, then follows the real clock.
type clock struct {
	mu  sync.Mutex
	t   time.Time
	off bool
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off {
		return time.Now()
	}
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// priceRE is a price the books' DECIMAL(10,2) column holds as it is.
var priceRE = regexp.MustCompile(`^[0-9]{1,8}(\.[0-9]{1,2})?$`)

// Open creates the bookstore in a new SQLite file bookstore.db in dir
// (replacing one that is there), opened with dsn's settings (dsn formats a
// path as a DSN), with auditing installed and its models registered.
func Open(ctx context.Context, dir string, dsn func(path string) string) (*Store, error) {
	path := filepath.Join(dir, "bookstore.db")
	// The old file's journal and WAL go with it: a WAL left beside a new
	// file would be read into it.
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("replace the demo database: %w", err)
		}
	}
	clk := &clock{t: time.Now().Add(-42 * 24 * time.Hour).Truncate(time.Hour)}
	driver, err := sqlitedriver.Lookup("")
	if err != nil {
		return nil, fmt.Errorf("the demo runs on the auditlog command's own SQLite driver: %w", err)
	}
	db, err := gorm.Open(driver.Dialector(nil, dsn(path)), &gorm.Config{Logger: logger.Discard, NowFunc: clk.Now})
	if err != nil {
		return nil, err
	}
	if err := auditgorm.Migrate(ctx, db); err != nil {
		return nil, err
	}
	reg := auditlog.NewRegistry()
	if err := db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Now: clk.Now})); err != nil {
		return nil, err
	}
	if err := db.AutoMigrate(&Author{}, &Book{}, &Tag{}, &Customer{}); err != nil {
		return nil, err
	}
	for _, r := range []struct {
		model any
		opts  []auditlog.Option
	}{
		{&Author{}, nil},
		{&Book{}, []auditlog.Option{auditlog.M2M("Tags"), auditlog.DisplayNames(map[string]string{"price": "Price (EUR)"})}},
		{&Tag{}, nil},
		{&Customer{}, []auditlog.Option{auditlog.Mask("Email")}},
	} {
		if err := reg.Register(r.model, r.opts...); err != nil {
			return nil, err
		}
	}
	s, err := auditgorm.NewStore(db)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, store: s, clock: clk}, nil
}

// Seed writes six weeks of realistic history.
func (d *Store) Seed(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(7, 42))
	as := func(u auditlog.Actor, cid string) *gorm.DB {
		c := auditlog.WithActor(ctx, u)
		c = auditlog.WithRemoteAddr(c, fmt.Sprintf("192.0.2.%d", 10+u.ID[0]-'0'), 40000+rng.IntN(20000))
		if cid != "" {
			c = auditlog.WithCorrelationID(c, cid)
		}
		return d.db.WithContext(c)
	}
	step := func() { d.clock.advance(time.Duration(1+rng.IntN(5)) * time.Hour) }
	alice, bob, carol := users[0], users[1], users[2]
	system := auditlog.Actor{ID: "system", Name: "nightly stock sync"}

	authors := []Author{{Name: "Frank Herbert"}, {Name: "Ursula K. Le Guin"}, {Name: "Iain M. Banks"}}
	if err := as(alice, "setup").Create(&authors).Error; err != nil {
		return err
	}
	tags := []Tag{{Name: "classic"}, {Name: "sf"}, {Name: "fantasy"}, {Name: "award"}, {Name: "paperback"}}
	if err := as(alice, "setup").Create(&tags).Error; err != nil {
		return err
	}
	titles := []struct {
		title  string
		author int
		price  string
	}{{"Dune", 0, "9.99"}, {"Dune Messiah", 0, "8.99"}, {"Children of Dune", 0, "8.99"}, {"The Left Hand of Darkness", 1, "10.50"},
		{"The Dispossessed", 1, "11.00"}, {"A Wizard of Earthsea", 1, "7.99"}, {"Consider Phlebas", 2, "12.00"},
		{"The Player of Games", 2, "11.50"}, {"Use of Weapons", 2, "11.50"}, {"Excession", 2, "12.99"}}
	var books []Book
	for i, t := range titles {
		step()
		b := Book{Title: t.title, Price: t.price, Stock: 5 + rng.IntN(20), AuthorID: authors[t.author].ID,
			Details: map[string]any{"isbn": fmt.Sprintf("978-0-%06d-%d", 100000+i*7919, i%10), "pages": 200 + rng.IntN(400)},
			Tags:    []Tag{tags[1]}}
		if err := as([]auditlog.Actor{alice, bob}[i%2], fmt.Sprintf("import-%d", i)).Create(&b).Error; err != nil {
			return err
		}
		books = append(books, b)
	}
	customers := []Customer{{Name: "Dana", Email: "dana@example.com"}, {Name: "Eli", Email: "eli@example.org"}}
	if err := as(carol, "crm-1").Create(&customers).Error; err != nil {
		return err
	}
	end := time.Now().Add(-24 * time.Hour)
	for day := 0; d.clock.Now().Before(end); day++ {
		step()
		b := &books[rng.IntN(len(books))]
		switch rng.IntN(6) {
		case 0, 1:
			price := fmt.Sprintf("%d.%02d", 7+rng.IntN(8), rng.IntN(100))
			if err := as(bob, fmt.Sprintf("req-%d", 1000+day)).Model(b).Update("price", price).Error; err != nil {
				return err
			}
		case 2:
			if err := as(alice, fmt.Sprintf("req-%d", 1000+day)).Model(b).Association("Tags").Append(&tags[rng.IntN(len(tags))]); err != nil {
				return err
			}
		case 3:
			if err := as(carol, fmt.Sprintf("req-%d", 1000+day)).Model(&customers[day%2]).Update("email", fmt.Sprintf("%s+%d@example.com", strings.ToLower(customers[day%2].Name), day)).Error; err != nil {
				return err
			}
		default:
			b.Details["shelf"] = fmt.Sprintf("%c%d", 'A'+rune(rng.IntN(6)), rng.IntN(20))
			if err := as(alice, fmt.Sprintf("req-%d", 1000+day)).Model(b).Select("Details").Updates(Book{Details: b.Details}).Error; err != nil {
				return err
			}
		}
		// The nightly job syncs stock for every book in one bulk statement.
		if day%40 == 39 {
			d.clock.advance(3 * time.Hour)
			cid := "nightly-" + d.clock.Now().Format("20060102")
			if err := as(system, cid).Model(&Book{}).Where("stock < ?", 15).Update("stock", gorm.Expr("stock + ?", 10)).Error; err != nil {
				return err
			}
		}
	}
	// Dune's story: a discount run over the whole sci-fi range, tags, a delete.
	step()
	if err := as(bob, "promo-spring").Model(&Book{}).Where("author_id = ?", authors[0].ID).Update("price", gorm.Expr("ROUND(price * 0.9, 2)")).Error; err != nil {
		return err
	}
	step()
	if err := as(alice, "req-2001").Model(&books[0]).Association("Tags").Append(&tags[0], &tags[3]); err != nil {
		return err
	}
	step()
	if err := as(alice, "req-2002").Model(&books[0]).Association("Tags").Delete(&tags[1]); err != nil {
		return err
	}
	step()
	if err := as(carol, "req-2003").Model(&books[0]).Updates(map[string]any{"title": "Dune (40th anniversary)", "stock": 3}).Error; err != nil {
		return err
	}
	step()
	if err := as(bob, "req-2004").Delete(&books[0]).Error; err != nil {
		return err
	}
	if err := as(carol, "req-2005").Delete(&customers[1]).Error; err != nil {
		return err
	}
	d.clock.mu.Lock()
	d.clock.off = true
	d.clock.mu.Unlock()
	return nil
}

var shopPage = template.Must(template.New("shop").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo bookstore</title><link rel="stylesheet" href="/audit/assets/style.css"></head>
<body><header class="top"><span class="brand">Demo bookstore</span>
<form method="post" action="/act-as"><label>Acting as <select name="user">{{if not .Me.ID}}<option value="" selected disabled>choose…</option>{{end}}{{range .Users}}<option value="{{.ID}}"{{if eq .ID $.Me.ID}} selected{{end}}>{{.Name}}</option>{{end}}</select></label> <button type="submit">{{if .Me.ID}}Switch{{else}}Choose{{end}}</button></form>
<span class="tz"><a href="/audit/">Open the audit log »</a></span></header>
<main><h1>Books</h1>
{{if not .Me.ID}}<p class="empty">Choose who you are (above) to change books: every change is recorded as that user's.</p>{{end}}
<table class="entries"><thead><tr><th scope="col">Title</th><th scope="col">Price</th><th scope="col">Stock</th><th scope="col">Tags</th><th scope="col">Change</th><th scope="col">History</th></tr></thead><tbody>
{{range .Books}}<tr><td>{{.Title}}</td><td>{{.Price}}</td><td>{{.Stock}}</td><td>{{range $i, $t := .Tags}}{{if $i}}, {{end}}{{$t.Name}}{{end}}</td>
<td>{{if $.Me.ID}}<form method="post" action="/books/{{.ID}}/price"><label>Price <input name="price" value="{{.Price}}" size="6"></label> <button type="submit">Save</button></form>
<form method="post" action="/books/{{.ID}}/tag"><label>Tag <select name="tag">{{range $.Tags}}<option value="{{.ID}}">{{.Name}}</option>{{end}}</select></label> <button type="submit">Add</button></form>
<form method="post" action="/books/{{.ID}}/delete"><button type="submit">Delete</button></form>{{else}}—{{end}}</td>
<td><a href="/audit/history?obj=books:{{.ID}}">history</a></td></tr>{{end}}
</tbody></table></main></body></html>`))

// Handler serves the shop and, under /audit/, the admin UI. Both answer
// loopback clients that address this machine by a loopback name only: the
// demo has no login.
func (d *Store) Handler() (http.Handler, error) {
	p, _ := d.db.Config.Plugins["auditlog"].(*auditgorm.Plugin)
	ui, err := auditui.New(auditui.Config{Store: d.store, Prefix: "/audit", Title: "Bookstore audit log",
		Authorize: loopbackOnly, DisplayName: p.DisplayName, StateRules: p.StateRules})
	if err != nil {
		return nil, err
	}
	// The user is the one chosen on the shop page, or nobody: a request
	// without the cookie is never recorded as someone's.
	mw, err := audithttp.New(audithttp.Config{Actor: func(r *http.Request) (auditlog.Actor, bool) {
		c, err := r.Cookie("demo_user")
		if err != nil {
			return auditlog.Actor{}, false
		}
		return user(c.Value)
	}})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/audit/", ui)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		var books []Book
		var tags []Tag
		if err := d.db.Preload("Tags").Order("id").Find(&books).Error; err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := d.db.Order("name").Find(&tags).Error; err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		me, _ := auditlog.ActorFromContext(r.Context())
		// Not framed (guarded): a page on another local port (the same
		// site) could frame the shop and have its forms clicked.
		var page bytes.Buffer
		if err := shopPage.Execute(&page, map[string]any{"Books": books, "Tags": tags, "Users": users, "Me": me}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(page.Bytes())
	})
	mux.HandleFunc("POST /act-as", func(w http.ResponseWriter, r *http.Request) {
		u, ok := user(r.FormValue("user"))
		if !ok {
			http.Error(w, "no such demo user: choose alice, bob or carol on the shop page", http.StatusBadRequest)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "demo_user", Value: u.ID, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /books/{id}/{op}", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := auditlog.ActorFromContext(r.Context()); !ok {
			http.Error(w, "refused: choose who you are on the shop page (/) first; the demo records every change as a chosen user's", http.StatusForbidden)
			return
		}
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil {
			http.Error(w, "bad book id", http.StatusBadRequest)
			return
		}
		db := d.db.WithContext(r.Context())
		book := Book{ID: uint(id)}
		// Only books and tags the shop shows: GORM's Append would insert a
		// tag it was given by an id alone, with an empty name.
		if ok, err := exists(db, &Book{}, id); err != nil || !ok {
			notThere(w, err, "no such book")
			return
		}
		switch r.PathValue("op") {
		case "price":
			price := r.FormValue("price")
			if !priceRE.MatchString(price) {
				http.Error(w, "a price is a number of euros with at most two decimals, such as 12.50", http.StatusBadRequest)
				return
			}
			err = db.Model(&book).Update("price", price).Error
		case "tag":
			tagID, perr := strconv.ParseUint(r.FormValue("tag"), 10, 64)
			if perr != nil {
				http.Error(w, "bad tag id", http.StatusBadRequest)
				return
			}
			var tag Tag
			if ok, err := exists(db, &tag, tagID); err != nil || !ok {
				notThere(w, err, "no such tag")
				return
			}
			err = db.Model(&book).Association("Tags").Append(&tag)
		case "delete":
			err = db.Delete(&book).Error
		default:
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	// Loopback clients addressing this machine by name only: a web page whose
	// host name resolves to 127.0.0.1 (DNS rebinding) is refused.
	h, err := auditui.HostGuard(auditui.LoopbackHosts(), loopbackGuard(sameOrigin(mw(mux))))
	if err != nil {
		return nil, err
	}
	return guarded(h), nil
}

// guarded sets the shop's protective headers on every response, the
// mux's redirects and 404s and the guards' refusals included (the UI sets
// its own): no framing, no sniffing, no referrer to other sites, and
// nothing but its own stylesheet and forms. Not "no-referrer": a form
// posted from a page with that policy says Origin: null, which a browser
// without Sec-Fetch-Site would then be refused for.
func guarded(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// exists reads the row of dest's model with key id into dest, and reports
// whether there is one.
func exists(db *gorm.DB, dest any, id uint64) (bool, error) {
	res := db.Limit(1).Find(dest, id)
	return res.RowsAffected == 1, res.Error
}

// notThere answers a request for a row that is not there (a 404), or
// whose read failed.
func notThere(w http.ResponseWriter, err error, what string) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Error(w, what, http.StatusNotFound)
}

// user is the demo user with id.
func user(id string) (auditlog.Actor, bool) {
	for _, u := range users {
		if u.ID == id {
			return u, true
		}
	}
	return auditlog.Actor{}, false
}

// sameOrigin refuses every state-changing request that does not prove it
// comes from the demo's own pages: a browser sends Sec-Fetch-Site (or, when
// older, Origin) with every form post, and a page on another site cannot
// forge either. A request with neither is refused too, so a client outside a
// browser must send Origin. It relies on HostGuard: under DNS rebinding the
// attacker's page would be same-origin with its own host name.
func sameOrigin(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			h.ServeHTTP(w, r)
			return
		}
		if r.Header.Get("Sec-Fetch-Site") == "" && r.Header.Get("Origin") == "" {
			http.Error(w, "refused: a change must come from the demo's own pages (a browser sends Sec-Fetch-Site or Origin; from a script, send Origin: http://"+r.Host+")", http.StatusForbidden)
			return
		}
		if err := cop.Check(r); err != nil {
			http.Error(w, "refused: a change must come from the demo's own pages, not from another site", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func loopbackOnly(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().IsLoopback()
}

func loopbackGuard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackOnly(r) {
			http.Error(w, "the demo answers requests from this machine only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// DB is the bookstore's database.
func (d *Store) DB() *gorm.DB { return d.db }

// Entries is the store of its audit entries.
func (d *Store) Entries() *auditstore.Store { return d.store }

// Close closes the database.
func (d *Store) Close() error {
	sqlDB, err := d.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}
