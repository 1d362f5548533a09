//! The dashboard page: one HTML document with a section per view (overview, schema, data,
//! state, loads, trace), rendered on the server from a [`Snapshot`]. The page's own script
//! (shipped in the binary) only runs the SQL box and the toggles.

use super::collect::{Grid, Snapshot};
use sluice_core::{Schema, Table};
use sluice_pipeline::info::human_duration;
use std::fmt::Write;

/// Escape text for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How the page is used: served live (the SQL box works) or exported as files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Served by `sluice pipeline NAME show`.
    Live,
    /// Written by `--export DIR`.
    Export,
}

fn grid_html(grid: &Grid, out: &mut String) {
    out.push_str("<div class=\"grid-wrap\"><table class=\"grid\"><thead><tr>");
    for c in &grid.columns {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &grid.rows {
        out.push_str("<tr>");
        for cell in row {
            match cell {
                Some(v) => {
                    let _ = write!(out, "<td>{}</td>", esc(v));
                }
                None => out.push_str("<td class=\"null\">NULL</td>"),
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    if grid.truncated {
        out.push_str("<p class=\"note\">Only the first rows are shown.</p>");
    }
}

fn error_html(text: &str, out: &mut String) {
    let _ = write!(out, "<pre class=\"error\">{}</pre>", esc(text));
}

fn overview(s: &Snapshot, out: &mut String) {
    out.push_str("<section id=\"overview\"><h2>Overview</h2><dl class=\"facts\">");
    let location = match &s.location {
        Ok(l) => esc(l),
        Err(e) => format!("<span class=\"error\">{}</span>", esc(e)),
    };
    let _ = write!(
        out,
        "<dt>Pipeline</dt><dd id=\"pipeline-name\">{}</dd><dt>Destination</dt><dd>{}</dd>\
         <dt>Location</dt><dd>{location}</dd><dt>Dataset</dt><dd>{}</dd>",
        esc(&s.pipeline),
        esc(&s.destination),
        esc(&s.dataset)
    );
    match &s.last_run {
        None => out.push_str("<dt>Last run</dt><dd>no trace yet</dd></dl>"),
        Some(run) => {
            let status = if run.pending_only {
                "loaded pending packages"
            } else {
                "completed"
            };
            let _ = write!(
                out,
                "<dt>Last run</dt><dd id=\"last-run-status\">{status}</dd>\
                 <dt>Started</dt><dd>{}</dd></dl>",
                esc(run.started_at.as_deref().unwrap_or("-"))
            );
            out.push_str(
                "<h3>Steps</h3><table class=\"grid small\"><tr><th>step</th><th>duration</th></tr>",
            );
            for (step, d) in run.steps() {
                let _ = write!(
                    out,
                    "<tr><td>{step}</td><td>{}</td></tr>",
                    human_duration(d)
                );
            }
            out.push_str("</table><h3>Rows per table of the last load</h3><table class=\"grid small\" id=\"last-rows\"><tr><th>table</th><th>rows</th></tr>");
            for (t, n) in run.rows_per_table() {
                let _ = write!(out, "<tr><td>{}</td><td>{n}</td></tr>", esc(&t));
            }
            out.push_str("</table>");
            if !run.warnings.is_empty() {
                out.push_str("<h3>Warnings</h3><ul class=\"warnings\">");
                for w in &run.warnings {
                    let _ = write!(out, "<li>{}</li>", esc(w));
                }
                out.push_str("</ul>");
            }
        }
    }
    out.push_str("</section>");
}

fn hints(c: &sluice_core::Column) -> String {
    let mut h = Vec::new();
    for (on, name) in [
        (c.primary_key, "primary key"),
        (c.merge_key, "merge key"),
        (c.unique, "unique"),
        (c.row_key, "row key"),
        (c.parent_key, "parent key"),
        (c.root_key, "root key"),
        (c.variant, "variant"),
        (c.hard_delete, "hard delete"),
    ] {
        if on {
            h.push(name);
        }
    }
    h.join(", ")
}

fn table_tree(schema: &Schema, table: &Table, out: &mut String) {
    let system = if table.is_system() { " system" } else { "" };
    let _ = write!(
        out,
        "<li class=\"table{system}\" data-table=\"{0}\"><details open><summary><code>{0}</code>",
        esc(&table.name)
    );
    if let Some(d) = &table.write_disposition {
        let _ = write!(out, " <span class=\"tag\">{}</span>", d.as_str());
    }
    out.push_str("</summary><table class=\"grid small columns\"><tr><th>column</th><th>type</th><th>nullable</th><th>hints</th></tr>");
    for c in table.columns.values() {
        let dlt = if c.name.starts_with(sluice_core::schema::DLT_PREFIX) {
            " class=\"dlt\""
        } else {
            ""
        };
        let ty = c
            .data_type
            .map(|t| t.to_string())
            .unwrap_or_else(|| "(no data yet)".into());
        let _ = write!(
            out,
            "<tr{dlt}><td><code>{}</code></td><td class=\"type\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&ty),
            if c.nullable { "yes" } else { "no" },
            esc(&hints(c))
        );
    }
    out.push_str("</table>");
    let children: Vec<&Table> = schema
        .tables
        .values()
        .filter(|t| t.parent.as_deref() == Some(table.name.as_str()))
        .collect();
    if !children.is_empty() {
        out.push_str("<ul class=\"tree\">");
        for child in children {
            table_tree(schema, child, out);
        }
        out.push_str("</ul>");
    }
    out.push_str("</details></li>");
}

fn schema_section(s: &Snapshot, out: &mut String) {
    out.push_str(
        "<section id=\"schema\"><h2>Schema</h2><p class=\"toggles\">\
         <label><input type=\"checkbox\" id=\"show-dlt\" checked> <code>_dlt_*</code> columns</label> \
         <label><input type=\"checkbox\" id=\"show-system\"> system tables</label></p>",
    );
    for schema in &s.schemas {
        let _ = write!(
            out,
            "<h3>{} <span class=\"tag\">version {}</span></h3><ul class=\"tree\" id=\"tables\">",
            esc(&schema.name),
            schema.version
        );
        for t in schema.tables.values().filter(|t| t.parent.is_none()) {
            table_tree(schema, t, out);
        }
        out.push_str("</ul><details><summary>The schema as YAML</summary>");
        match schema.to_yaml() {
            Ok(y) => {
                let _ = write!(out, "<pre class=\"yaml\">{}</pre>", esc(&y));
            }
            Err(e) => error_html(&e.to_string(), out),
        }
        out.push_str("</details>");
    }
    if s.schemas.is_empty() {
        out.push_str("<p>No schema yet: run the pipeline first.</p>");
    }
    out.push_str("</section>");
}

fn data_section(s: &Snapshot, mode: Mode, out: &mut String) {
    out.push_str("<section id=\"data\"><h2>Data</h2>");
    if s.can_query {
        match mode {
            Mode::Live => {
                let example = s
                    .tables
                    .first()
                    .map(|t| format!("SELECT * FROM {} LIMIT 10", t.name))
                    .unwrap_or_else(|| "SELECT 1".into());
                let _ = write!(
                    out,
                    "<form id=\"sql-form\"><label for=\"sql\">SQL against the dataset \
                     (unqualified names resolve in <code>{}</code> where the destination \
                     allows; at most 1 000 rows)</label><textarea id=\"sql\" rows=\"4\" \
                     spellcheck=\"false\">{}</textarea><button id=\"run-sql\" \
                     type=\"submit\">Run</button></form><div id=\"sql-result\"></div>",
                    esc(&s.dataset),
                    esc(&example)
                );
            }
            Mode::Export => out.push_str(
                "<p class=\"note\">This is an exported copy: run <code>sluice pipeline NAME \
                 show</code> for the SQL box.</p>",
            ),
        }
    }
    for t in &s.tables {
        let _ = write!(
            out,
            "<h3 class=\"data-table\" data-table=\"{0}\"><code>{0}</code> ",
            esc(&t.name)
        );
        match &t.count {
            Ok(n) => {
                let _ = write!(out, "<span class=\"tag count\">{n} rows</span></h3>");
            }
            Err(e) => {
                out.push_str("</h3>");
                error_html(e, out);
            }
        }
        match &t.first_rows {
            Some(Ok(g)) => grid_html(g, out),
            Some(Err(e)) => error_html(e, out),
            None => {}
        }
    }
    out.push_str("</section>");
}

fn json_html(v: &serde_json::Value) -> String {
    esc(&serde_json::to_string_pretty(v).unwrap_or_default())
}

fn state_section(s: &Snapshot, out: &mut String) {
    out.push_str("<section id=\"state\"><h2>State</h2><h3>Incremental cursors</h3>");
    if s.cursors.is_empty() {
        out.push_str("<p>No incremental cursors.</p>");
    } else {
        out.push_str("<table class=\"grid small\"><tr><th>source</th><th>resource</th><th>cursor</th><th>last value</th></tr>");
        for c in &s.cursors {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&c.source),
                esc(&c.resource),
                esc(&c.cursor_path),
                esc(&c.last_value)
            );
        }
        out.push_str("</table>");
    }
    let _ = write!(
        out,
        "<div class=\"columns2\"><div><h3>Local state</h3><pre class=\"json\">{}</pre></div><div><h3>Stored at the destination</h3>",
        json_html(&s.local_state)
    );
    match &s.stored_state {
        Ok(Some(v)) => {
            let _ = write!(out, "<pre class=\"json\">{}</pre>", json_html(v));
        }
        Ok(None) => out.push_str("<p>Nothing stored yet.</p>"),
        Err(e) => error_html(e, out),
    }
    out.push_str("</div></div></section>");
}

fn rows_text(rows: &[(String, u64)]) -> String {
    rows.iter()
        .map(|(t, n)| format!("{t}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn loads_section(s: &Snapshot, out: &mut String) {
    out.push_str("<section id=\"loads\"><h2>Loads</h2>");
    match &s.loads {
        Ok(loads) => {
            out.push_str("<div class=\"grid-wrap\"><table class=\"grid\" id=\"loads-table\"><tr><th>load id</th><th>schema</th><th>status</th><th>inserted at</th><th>schema version</th><th>rows per table</th></tr>");
            for l in loads {
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                    esc(&l.load_id),
                    esc(&l.schema_name),
                    if l.status == "0" {
                        "loaded".to_string()
                    } else {
                        esc(&l.status)
                    },
                    esc(&l.inserted_at),
                    esc(&l.schema_version_hash),
                    esc(&rows_text(&l.rows))
                );
            }
            out.push_str("</table></div>");
        }
        Err(e) => error_html(e, out),
    }
    out.push_str("<h3>Pending packages</h3>");
    if s.pending.is_empty() {
        out.push_str("<p>None.</p>");
    } else {
        out.push_str("<ul>");
        for p in &s.pending {
            let _ = write!(
                out,
                "<li><code>{}</code>: {}</li>",
                esc(&p.load_id),
                esc(&rows_text(&p.rows))
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
}

fn trace_section(s: &Snapshot, out: &mut String) {
    out.push_str("<section id=\"trace\"><h2>Trace of the last run</h2>");
    let Some(run) = &s.last_run else {
        out.push_str("<p>No trace yet.</p></section>");
        return;
    };
    out.push_str("<table class=\"grid small\"><tr><th>step</th><th>duration</th></tr>");
    for (step, d) in run.steps() {
        let _ = write!(
            out,
            "<tr><td>{step}</td><td>{}</td></tr>",
            human_duration(d)
        );
    }
    out.push_str("</table>");
    if !run.resources.is_empty() {
        out.push_str("<h3>Resources</h3><table class=\"grid small\" id=\"trace-resources\"><tr><th>resource</th><th>requests</th><th>retries</th><th>pages</th><th>rows</th><th>bytes</th></tr>");
        for r in &run.resources {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&r.resource),
                r.requests,
                r.retries,
                r.pages,
                r.rows,
                r.bytes
            );
        }
        out.push_str("</table>");
    }
    out.push_str("<h3>Packages</h3><ul>");
    for p in &run.packages {
        let rows: Vec<(String, u64)> = p.rows.iter().map(|(t, n)| (t.clone(), *n)).collect();
        let _ = write!(
            out,
            "<li><code>{}</code>{}: {}</li>",
            esc(&p.load_id),
            if p.already_loaded {
                " (already loaded)"
            } else {
                ""
            },
            esc(&rows_text(&rows))
        );
    }
    out.push_str("</ul></section>");
}

/// The whole page.
pub fn page(s: &Snapshot, mode: Mode) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · sluice</title><link rel=\"stylesheet\" href=\"assets/dashboard.css\">\
         </head><body data-mode=\"{}\"><header><h1>sluice <span>{}</span></h1><nav>\
         <a href=\"#overview\">Overview</a><a href=\"#schema\">Schema</a><a href=\"#data\">Data</a>\
         <a href=\"#state\">State</a><a href=\"#loads\">Loads</a><a href=\"#trace\">Trace</a>\
         </nav></header><main>",
        esc(&s.pipeline),
        if mode == Mode::Live { "live" } else { "export" },
        esc(&s.pipeline)
    );
    overview(s, &mut out);
    schema_section(s, &mut out);
    data_section(s, mode, &mut out);
    state_section(s, &mut out);
    loads_section(s, &mut out);
    trace_section(s, &mut out);
    out.push_str("</main><script src=\"assets/dashboard.js\"></script></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
