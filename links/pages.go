package links

// pages are the HTML a link's holder sees: no script but the drop page's
// (the UI's tus client, from /ui/static/), the UI's style sheet, nothing
// of the space beyond the link's node.
const pages = `
{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<link rel="icon" href="/ui/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/ui/static/app.css">
<link rel="stylesheet" href="/ui/static/share.css">
{{end}}

{{define "listing"}}{{template "head"}}<title>{{.Title}} · Wharf</title>
</head>
<body class="share">
<main class="share-main">
<h1>{{.Title}}</h1>
{{if .Label}}<p class="share-label">{{.Label}}</p>{{end}}
<p class="share-actions"><a class="button" href="?download=zip" download>Download all (zip)</a></p>
<table class="share-list">
<thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Modified (UTC)</th></tr></thead>
<tbody>
{{if .Up}}<tr><td><a href="../">..</a></td><td></td><td></td></tr>{{end}}
{{range .Entries}}<tr><td><a href="{{.Href}}"{{if not .IsDir}} download{{end}}>{{.Name}}{{if .IsDir}}/{{end}}</a></td><td>{{.Size}}</td><td>{{.Modified}}</td></tr>
{{else}}<tr><td colspan="3">This folder is empty.</td></tr>{{end}}
</tbody>
</table>
</main>
</body>
</html>
{{end}}

{{define "drop"}}{{template "head"}}<title>Send files · Wharf</title>
<script type="module" src="/ui/static/drop.js"></script>
</head>
<body class="share" data-endpoint="{{.Endpoint}}">
<main class="share-main">
<h1>Send files</h1>
{{if .Label}}<p class="share-label">{{.Label}}</p>{{end}}
<p>Files you send here are delivered to the person who shared this link. You cannot see what is already there.</p>
<form id="drop-form" class="share-drop">
<label for="drop-files">Choose files</label>
<input id="drop-files" name="files" type="file" multiple>
<p class="share-hint">…or drop them on this page. Interrupted uploads continue where they stopped when you pick the same file again.</p>
</form>
<ul id="drop-list" class="share-uploads" aria-live="polite"></ul>
</main>
</body>
</html>
{{end}}

{{define "password"}}{{template "head"}}<title>Password · Wharf</title>
</head>
<body class="share">
<main class="share-main">
<h1>This link needs a password</h1>
{{if .Wrong}}<p class="share-error" role="alert">Wrong password.</p>{{end}}
<form method="post" action="{{.Action}}">
<label for="link-password">Password</label>
<input id="link-password" name="password" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Open</button>
</form>
</main>
</body>
</html>
{{end}}

{{define "refusal"}}{{template "head"}}<title>Wharf</title>
</head>
<body class="share">
<main class="share-main">
<h1>{{.Message}}</h1>
</main>
</body>
</html>
{{end}}
`
