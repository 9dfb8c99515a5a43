// Package web is the browser tab: its page, token form, script and style, embedded in the binary so the
// tab works offline and loads nothing from elsewhere.
package web

import "embed"

// Files holds index.html (the tab), login.html (the token form, an html/template), app.js and app.css.
//
//go:embed index.html login.html app.js app.css
var Files embed.FS
